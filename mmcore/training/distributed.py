"""Several training processes: where this one stands, its device, the process group, cross-process sums.

``torchrun`` (``python -m torch.distributed.run``) starts one process per device and tells each its place
through environment variables: ``WORLD_SIZE`` (processes in all), ``RANK`` (this one, over all machines),
``LOCAL_RANK`` (this one on its machine, hence its GPU), and ``MASTER_ADDR``/``MASTER_PORT`` (where the
processes meet). :class:`~mmcore.training.trainer.Trainer` reads them here, so a script that calls
``Trainer.fit`` becomes distributed when torchrun launches it, without a change to the script.

Every function that communicates must be called by all processes in the same order (a collective); a
process that skips one leaves the others waiting until the process group's timeout.
"""

from __future__ import annotations

import atexit
import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

WORLD_SIZE_VARIABLE = "WORLD_SIZE"
RANK_VARIABLE = "RANK"
LOCAL_RANK_VARIABLE = "LOCAL_RANK"


class DistributedSetupError(RuntimeError):
    """The launcher's environment variables or the requested device do not describe a usable process layout."""


@dataclass(frozen=True)
class ProcessPlace:
    """Where this process stands among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.world_size < 1:
            raise DistributedSetupError(f"{WORLD_SIZE_VARIABLE} must be >= 1, got {self.world_size}")
        if not 0 <= self.rank < self.world_size:
            raise DistributedSetupError(f"{RANK_VARIABLE}={self.rank} is outside [0, {self.world_size})")
        if self.local_rank < 0:
            raise DistributedSetupError(f"{LOCAL_RANK_VARIABLE} must be >= 0, got {self.local_rank}")

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and shows progress."""
        return self.rank == 0


def _integer_variable(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ[name])
    except KeyError:
        raise DistributedSetupError(
            f"{WORLD_SIZE_VARIABLE}={environ.get(WORLD_SIZE_VARIABLE)} is set but {name} is not; "
            "launch with torchrun, which sets both"
        ) from None
    except ValueError:
        raise DistributedSetupError(f"environment variable {name}={environ[name]!r} is not an integer") from None


def place_from_environment(environ: Mapping[str, str] | None = None) -> ProcessPlace:
    """The place torchrun gave this process; rank 0 of 1 when ``WORLD_SIZE`` is not set."""
    environ = os.environ if environ is None else environ
    if WORLD_SIZE_VARIABLE not in environ:
        return ProcessPlace()
    world_size = _integer_variable(environ, WORLD_SIZE_VARIABLE)
    if world_size == 1:
        return ProcessPlace()
    return ProcessPlace(
        rank=_integer_variable(environ, RANK_VARIABLE),
        local_rank=_integer_variable(environ, LOCAL_RANK_VARIABLE),
        world_size=world_size,
    )


def current_place(environ: Mapping[str, str] | None = None) -> ProcessPlace:
    """This process's place: from an already initialised process group if there is one, else the environment."""
    environ = os.environ if environ is None else environ
    if dist.is_available() and dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
        local_rank = int(environ.get(LOCAL_RANK_VARIABLE, rank))
        return ProcessPlace(rank=rank, local_rank=local_rank, world_size=world_size)
    return place_from_environment(environ)


def training_device(device: str, place: ProcessPlace) -> torch.device:
    """The device this process trains on: ``cpu``, or under torchrun ``cuda:LOCAL_RANK`` (one GPU per process).

    ``cuda:i`` with an explicit index is accepted only where it agrees with ``LOCAL_RANK``: two processes on
    one GPU would not fail, only run at half speed, which is worse than an error.
    """
    requested = torch.device(device)
    if requested.type == "cpu":
        return requested
    if requested.type != "cuda":
        raise DistributedSetupError(f"device must be 'cpu' or 'cuda[:index]', got {device!r}")
    if place.is_distributed and requested.index is not None and requested.index != place.local_rank:
        raise DistributedSetupError(
            f"device {device!r} conflicts with {LOCAL_RANK_VARIABLE}={place.local_rank}: under torchrun every "
            "process uses cuda:LOCAL_RANK; pass plain 'cuda'"
        )
    if not torch.cuda.is_available():
        raise DistributedSetupError(f"device {device!r} requested, but torch.cuda.is_available() is False")
    if not place.is_distributed:
        return requested
    if place.local_rank >= torch.cuda.device_count():
        raise DistributedSetupError(
            f"{LOCAL_RANK_VARIABLE}={place.local_rank} but this machine has {torch.cuda.device_count()} GPU(s); "
            "start at most one process per GPU (--nproc-per-node)"
        )
    return torch.device("cuda", place.local_rank)


def backend_for(device: torch.device) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device.type == "cuda" else "gloo"


def _leave_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def join_process_group(place: ProcessPlace, device: torch.device, timeout_s: float) -> bool:
    """Initialise torch.distributed from torchrun's environment; True if this call did it.

    Nothing happens for a single process or when the caller has initialised the group already (its choice
    of backend and timeout wins). A collective that waits longer than ``timeout_s`` raises instead of
    hanging, so a crashed process stops the others. A group created here is destroyed at interpreter exit.
    """
    if not place.is_distributed:
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if dist.is_initialized():
        if (dist.get_rank(), dist.get_world_size()) != (place.rank, place.world_size):
            raise DistributedSetupError(
                f"the process group has rank {dist.get_rank()} of {dist.get_world_size()}, "
                f"the environment says {place.rank} of {place.world_size}"
            )
        return False
    if not dist.is_available():
        raise DistributedSetupError(f"{WORLD_SIZE_VARIABLE}={place.world_size} but torch.distributed is unavailable")
    dist.init_process_group(
        backend=backend_for(device),
        init_method="env://",
        rank=place.rank,
        world_size=place.world_size,
        timeout=datetime.timedelta(seconds=timeout_s),
    )
    atexit.register(_leave_process_group)
    return True


def rank_seed(seed: int, rank: int) -> int:
    """The seed of process ``rank``'s random number generator: ``seed`` itself on rank 0.

    Why different seeds: the models draw reparametrisation noise from torch's global generator; with one
    seed every process would draw the same noise for different samples, correlating the gradient
    estimates that DDP averages. Rank 0 keeps ``seed`` so that a one-process run is unchanged.
    """
    if rank == 0:
        return seed
    state = np.random.SeedSequence([seed, rank]).generate_state(1, dtype=np.uint64)[0]
    return int(state) & (2**63 - 1)


def gather_objects(value: Any, place: ProcessPlace) -> list[Any]:
    """Every process's ``value``, in rank order, on every process (picklable values; a collective)."""
    if not place.is_distributed:
        return [value]
    gathered: list[Any] = [None] * place.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_from_main(value: Any, place: ProcessPlace) -> Any:
    """Rank 0's ``value`` on every process (what the others pass is ignored; a collective)."""
    if not place.is_distributed:
        return value
    box = [value if place.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_across_processes(sums: Mapping[str, float], count: int, place: ProcessPlace) -> tuple[dict[str, float], int]:
    """Add every process's per-name sums and sample counts (a collective).

    Means are then ``sum / count`` over all samples, never an average of per-process averages, which
    would weight a sample on a small shard more. Sums are added in rank order in float64, so every
    process gets bit-identical results and takes the same decisions (best epoch, early errors). A process
    with an empty shard passes no names and a count of 0.
    """
    parts = gather_objects((dict(sums), int(count)), place)
    names: dict[str, None] = {}
    for part_sums, part_count in parts:
        if part_count:
            names.update(dict.fromkeys(part_sums))
    totals = {name: 0.0 for name in names}
    for rank, (part_sums, part_count) in enumerate(parts):
        if not part_count:
            continue
        missing = set(names) - set(part_sums)
        if missing:
            raise DistributedSetupError(f"process {rank} reported no value for {sorted(missing)}")
        for name in names:
            totals[name] += float(part_sums[name])
    return totals, sum(part_count for _, part_count in parts)


def ranks_with_flag(flag: bool, place: ProcessPlace, device: torch.device) -> list[int]:
    """The ranks whose ``flag`` is True (a collective on a tensor, cheap enough to run every step)."""
    if not place.is_distributed:
        return [0] if flag else []
    mine = torch.tensor([1.0 if flag else 0.0], device=device)
    gathered = [torch.zeros_like(mine) for _ in range(place.world_size)]
    dist.all_gather(gathered, mine)
    return [rank for rank, value in enumerate(gathered) if float(value) > 0]
