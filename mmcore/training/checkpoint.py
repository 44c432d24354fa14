"""Checkpoints that survive a crash mid-write and load without executing code.

A checkpoint after epoch ``e`` is two files in the checkpoint directory:

* ``epoch-000e.safetensors``: the model's weights (``safetensors``: plain tensors, no pickle);
* ``epoch-000e.state.pt``: optimiser state, random-number-generator states, epoch counters, history;
  written with ``torch.save`` and read with ``torch.load(weights_only=True)``, which refuses to unpickle
  anything but tensors and plain containers.

A checkpoint written ``s`` steps into the epoch after ``e`` completed ones (``checkpoint_every_steps``) is
named ``epoch-000e-step-00000s``; checkpoints are ordered by ``(e, s)``, an end-of-epoch one having ``s = 0``.

The state file is written second, so its presence marks a complete checkpoint: a crash between the two
leaves an orphan weights file that :func:`latest_checkpoint` ignores. Every file is written to a temporary
file in the same directory, fsynced and renamed over the target (:mod:`mmcore.atomic`), so a reader never
sees half a file. ``best.safetensors`` holds the weights of the best epoch so far.

Why two checkpoints are kept: a file can be damaged after it was written (a full disk elsewhere, a copy cut
short, a bit flip), and then the newest checkpoint alone would lose the run. The trainer keeps the newest and
the one before it (:data:`KEEP_CHECKPOINTS`), and :func:`complete_checkpoints` lists them newest first so a
resume can fall back, with a warning, to the previous one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import Tensor, nn

from mmcore.atomic import atomic_output, atomic_write_text

BEST_WEIGHTS = "best.safetensors"
CONFIG_FILE = "trainer_config.json"
KEEP_CHECKPOINTS = 2
_CHECKPOINT_PATTERN = re.compile(r"^epoch-(\d+)(?:-step-(\d+))?\.state\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read, or does not fit the model or the run being resumed."""


@dataclass(frozen=True)
class Checkpoint:
    """The files of the checkpoint written after ``epoch`` completed epochs and ``step`` steps of the next."""

    epoch: int
    weights: Path
    state: Path
    step: int = 0


def checkpoint_files(directory: Path, epoch: int, step: int = 0) -> Checkpoint:
    name = f"epoch-{epoch:04d}" if step == 0 else f"epoch-{epoch:04d}-step-{step:06d}"
    stem = Path(directory) / name
    return Checkpoint(epoch, stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".state.pt"), step)


def _checkpoint_keys(directory: Path) -> list[tuple[int, int]]:
    """``(epoch, step)`` of every state file in ``directory``, in ascending order."""
    keys = []
    for entry in directory.iterdir():
        match = _CHECKPOINT_PATTERN.match(entry.name)
        if match:
            keys.append((int(match.group(1)), int(match.group(2) or 0)))
    return sorted(keys)


def atomic_write_json(path: Path, value: Any) -> None:
    """Write ``value`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def _unshared_cpu_tensors(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Detached CPU tensors, with a private copy for every tensor whose storage another key already holds.

    Why: safetensors refuses tensors that share memory, and a model may register one module twice (an
    encoder body shared by two experts). Loading gives both keys the same values, which restores the tie.
    """
    seen: set[int] = set()
    tensors = {}
    for name, tensor in state.items():
        tensor = tensor.detach().to("cpu").contiguous()
        pointer = tensor.untyped_storage().data_ptr()
        if pointer in seen and tensor.numel() > 0:
            tensor = tensor.clone()
        seen.add(pointer)
        tensors[name] = tensor
    return tensors


def save_weights(path: Path, state: Mapping[str, Tensor]) -> None:
    """Write a state dict with ``safetensors.torch.save_file``, atomically."""
    tensors = _unshared_cpu_tensors(state)
    with atomic_output(path) as temporary:
        safetensors.torch.save_file(tensors, str(temporary))


def load_weights(path: Path, device: torch.device | str = "cpu") -> dict[str, Tensor]:
    try:
        return safetensors.torch.load_file(str(path), device=str(device))
    except (OSError, safetensors.SafetensorError) as error:
        raise CheckpointError(f"{path}: cannot read model weights ({error})") from None


def load_weights_into(model: nn.Module, path: Path) -> None:
    """Load a weights file into ``model`` (on the model's device), naming the file if keys do not match."""
    device = next(model.parameters()).device
    try:
        model.load_state_dict(load_weights(path, device))
    except RuntimeError as error:
        raise CheckpointError(f"{path}: the weights do not fit this model ({error})") from None


def save_state(path: Path, state: Mapping[str, Any]) -> None:
    """Write trainer state (tensors and plain containers only) with ``torch.save``, atomically."""

    with atomic_output(path) as temporary, open(temporary, "wb") as stream:
        torch.save(dict(state), stream)


def load_state(path: Path) -> dict[str, Any]:
    """Read trainer state with ``weights_only=True``: code is never unpickled."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        first_line = (str(error).strip().splitlines() or [""])[0]  # torch's messages run to a page of advice
        raise CheckpointError(f"{path}: cannot read trainer state ({type(error).__name__}: {first_line})") from None


def save_checkpoint(
    directory: Path, epoch: int, weights: Mapping[str, Tensor], state: Mapping[str, Any], step: int = 0
) -> Checkpoint:
    """Write the checkpoint of ``(epoch, step)``: weights first, then the state file that marks it complete."""
    files = checkpoint_files(directory, epoch, step)
    save_weights(files.weights, weights)
    save_state(files.state, state)
    return files


def complete_checkpoints(directory: Path) -> list[Checkpoint]:
    """The complete checkpoints (state and weights files present) in ``directory``, newest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for epoch, step in reversed(_checkpoint_keys(directory)):
        files = checkpoint_files(directory, epoch, step)
        if files.weights.is_file():
            found.append(files)
    return found


def latest_checkpoint(directory: Path) -> Checkpoint | None:
    """The complete checkpoint with the highest ``(epoch, step)`` in ``directory``, or None."""
    found = complete_checkpoints(directory)
    return found[0] if found else None


def remove_old_checkpoints(directory: Path, keep: int = KEEP_CHECKPOINTS) -> None:
    """Delete all but the newest ``keep`` checkpoints (the fall-backs a resume may need)."""
    keys = _checkpoint_keys(Path(directory))
    if len(keys) > keep:
        remove_checkpoints_before(directory, *keys[-keep])


def remove_checkpoints_before(directory: Path, epoch: int, step: int = 0) -> None:
    """Delete the checkpoints before ``(epoch, step)`` (state file first, so none is left half-deleted)."""
    directory = Path(directory)
    for key in _checkpoint_keys(directory):
        if key < (epoch, step):
            files = checkpoint_files(directory, *key)
            files.state.unlink(missing_ok=True)
            files.weights.unlink(missing_ok=True)
