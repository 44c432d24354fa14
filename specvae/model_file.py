"""The ``.specvae`` model file: one safetensors file holding weights and everything needed to use them.

Why safetensors: loading it never executes code (unlike pickle-based ``torch.save`` files), so a model file
from a colleague is as safe to open as a spectrum file. The JSON metadata in its header holds the
architecture, the bin grid, the fingerprint definition (with its kept-bit mask), the ion mode, and what the
model was trained on: data, licenses, the InChIKey first blocks of every training structure (so a benchmark
can prove it never saw an answer), validation metrics, the command and its duration.

Why checksums: safetensors checks the header's structure, not the numbers, so a flipped bit in a weight
changes rankings without any error. Every file written by this module stores, next to the metadata, the
sha256 of the weights (names, dtypes, shapes and bytes) and of the metadata text (so a hand-edited ion mode
or bin grid is caught too); :func:`load_model` verifies both. Files from before the checksums load with a
:class:`UnverifiedModelWarning`.

Why the metadata is checked against the header before any tensor is allocated: a damaged or hostile file can
declare a hidden width of 10^5 (gigabytes of parameters) that would only fail after allocation; the shapes
the architecture implies are computed on torch's ``meta`` device and compared with the shapes the file holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from mmcore import MultimodalVAE
from mmcore.atomic import atomic_output
from specvae.architecture import ArchitectureConfig
from specvae.errors import SpecvaeError
from specvae.networks import build_network

FORMAT_NAME = "specvae-model"
FORMAT_VERSION = 1
_METADATA_KEY = "specvae"
_CHECKSUM_KEY = "specvae_sha256"
ION_MODES = ("positive", "negative")


class ModelFileError(SpecvaeError, ValueError):
    """A model file that cannot be read: not a safetensors file, not a specvae model, damaged, or incompatible."""


class UnverifiedModelWarning(UserWarning):
    """A model file written before checksums were stored: it loads, but a damaged weight would go unnoticed."""


@dataclass
class ModelMetadata:
    """Everything in a model file besides the weights."""

    architecture: ArchitectureConfig
    binning: dict[str, Any]
    fingerprint: dict[str, Any]
    ion_mode: str
    training: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "architecture": self.architecture.to_dict(),
                "binning": self.binning,
                "fingerprint": self.fingerprint,
                "ion_mode": self.ion_mode,
                "training": self.training,
            }
        )

    @classmethod
    def from_json(cls, text: str, source: str = "<metadata>") -> ModelMetadata:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ModelFileError(f"{source}: metadata is not valid JSON ({error})") from error
        if not isinstance(values, dict):
            raise ModelFileError(f"{source}: metadata is not a JSON object")
        if values.get("format") != FORMAT_NAME:
            raise ModelFileError(f"{source}: not a specvae model file (format={values.get('format')!r})")
        version = values.get("format_version", 0)
        if isinstance(version, bool) or not isinstance(version, int):
            raise ModelFileError(f"{source}: format_version must be an integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise ModelFileError(
                f"{source}: model file format {values['format_version']} is newer than this specvae "
                f"understands ({FORMAT_VERSION}); upgrade specvae"
            )
        missing = [name for name in ("architecture", "binning", "fingerprint", "ion_mode") if name not in values]
        if missing:
            raise ModelFileError(f"{source}: metadata lacks {', '.join(missing)}")
        try:
            architecture = ArchitectureConfig.from_dict(values["architecture"])
        except ValueError as error:
            raise ModelFileError(f"{source}: invalid architecture: {error}") from None
        if values["ion_mode"] not in ION_MODES:
            raise ModelFileError(f"{source}: ion mode must be one of {ION_MODES}, got {values['ion_mode']!r}")
        for name in ("binning", "fingerprint", "training"):
            if not isinstance(values.get(name, {}), dict):
                raise ModelFileError(f"{source}: metadata field {name!r} must be a JSON object")
        return cls(
            architecture=architecture,
            binning=values["binning"],
            fingerprint=values["fingerprint"],
            ion_mode=values["ion_mode"],
            training=values.get("training", {}),
        )

    @property
    def training_structures(self) -> set[str]:
        """InChIKey first blocks of every structure the model was trained on."""
        return set(self.training.get("structures_inchikey14", []))


def save_model(
    path: str | os.PathLike[str], model: MultimodalVAE, metadata: ModelMetadata, half_precision: bool = False
) -> None:
    """Write weights and metadata to ``path`` atomically (a reader never sees half a file).

    ``half_precision`` stores floating-point weights as float16 (half the file size: what keeps the shipped
    models small); they are read back into the float32 model, which changes predicted probabilities by
    about 1e-3, far below what moves a ranking.
    """
    tensors = {}
    for name, value in model.state_dict().items():
        value = value.detach().cpu()
        if half_precision and value.is_floating_point():
            value = value.to(torch.float16)
        tensors[name] = value.contiguous().clone()
    write_model_tensors(path, tensors, metadata.to_json())


def write_model_tensors(path: str | os.PathLike[str], tensors: Mapping[str, torch.Tensor], metadata_json: str) -> None:
    """Write stored tensors (as they are, dtype included) and metadata text with their checksums, atomically.

    What :func:`save_model` does after choosing the stored dtypes; also re-stamps an old file with checksums
    without touching a bit of its weights (``write_model_tensors(path, load_file(path), old_metadata_text)``).
    """
    checksums = {"weights": weights_sha256(tensors), "metadata": _text_sha256(metadata_json)}
    with atomic_output(path) as temporary:
        save_file(
            dict(tensors),
            str(temporary),
            metadata={_METADATA_KEY: metadata_json, _CHECKSUM_KEY: json.dumps(checksums)},
        )


def with_training_entry(
    model_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    key: str,
    value: Any,
    drop: tuple[str, ...] = (),
) -> None:
    """Write ``model_path`` to ``output`` with ``training[key] = value`` (and the ``drop`` entries removed): what a
    fit after training adds (a confidence, a fragment-formula weight). The weights are copied bit for bit, not
    re-quantised, and the file gets fresh checksums; ``model_path`` is verified first."""
    path = Path(model_path)
    header, _ = _read_header(path)
    checksums = _stored_checksums(path, header)
    metadata = _verified_metadata(path, header, checksums)
    tensors = load_file(str(path))
    if checksums is not None and weights_sha256(tensors) != checksums["weights"]:
        raise ModelFileError(f"{path}: the weights do not match their stored checksum: the file is damaged")
    training = {name: entry for name, entry in metadata.training.items() if name not in drop}
    metadata.training = {**training, key: value}
    write_model_tensors(output, tensors, metadata.to_json())


def weights_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order (independent of the file layout)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        digest.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_header(path: Path) -> tuple[dict[str, str], dict[str, tuple[list[int], str]]]:
    """The header's metadata strings and ``{tensor name: (shape, dtype)}``, without reading any tensor."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            shapes = {}
            for name in handle.keys():
                piece = handle.get_slice(name)
                shapes[name] = (list(piece.get_shape()), piece.get_dtype())
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{path}: cannot read as a specvae model file ({error})") from error
    if _METADATA_KEY not in header:
        raise ModelFileError(f"{path}: a safetensors file without specvae metadata")
    return header, shapes


def _stored_checksums(path: Path, header: dict[str, str]) -> dict[str, str] | None:
    """The checksums in the header, or None (with a warning) for a file written before they were stored."""
    text = header.get(_CHECKSUM_KEY)
    if text is None:
        warnings.warn(
            f"{path}: model file has no checksums (written by an older specvae); damaged weights would go "
            "unnoticed. Re-save it with this specvae to add them.",
            UnverifiedModelWarning,
            stacklevel=3,
        )
        return None
    try:
        checksums = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: the stored checksums are not valid JSON ({error})") from None
    if not isinstance(checksums, dict) or not all(isinstance(checksums.get(k), str) for k in ("weights", "metadata")):
        raise ModelFileError(f"{path}: the stored checksums are incomplete")
    return checksums


def _verified_metadata(path: Path, header: dict[str, str], checksums: dict[str, str] | None) -> ModelMetadata:
    text = header[_METADATA_KEY]
    if checksums is not None and _text_sha256(text) != checksums["metadata"]:
        raise ModelFileError(
            f"{path}: the metadata does not match its stored checksum: the file was edited or damaged "
            "(ion mode, bin grid or fingerprint may be wrong); use an intact copy of the model"
        )
    return ModelMetadata.from_json(text, source=str(path))


def read_metadata(path: str | os.PathLike[str]) -> ModelMetadata:
    """The metadata of a model file, without loading its weights (what ``specvae info`` shows).

    The metadata's checksum is verified (cheap); the weights' is verified by :func:`load_model`.
    """
    path = Path(path)
    header, _ = _read_header(path)
    return _verified_metadata(path, header, _stored_checksums(path, header))


def _check_shapes(path: Path, architecture: ArchitectureConfig, stored: dict[str, tuple[list[int], str]]) -> None:
    """Compare the tensors the architecture needs with those the file holds, allocating nothing.

    The model is built on torch's ``meta`` device (shapes without storage), so a declared hidden width of
    10^5 costs nothing here, and a mismatch is reported before the real model is allocated.
    """
    try:
        with torch.device("meta"):
            expected = build_network(architecture).state_dict()
    except (KeyError, ValueError, TypeError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        raise ModelFileError(f"{path}: cannot build the stored architecture: {message}") from None
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise ModelFileError(
            f"{path}: weights do not match the stored architecture (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for name, tensor in expected.items():
        if list(tensor.shape) != stored[name][0]:
            raise ModelFileError(
                f"{path}: weights do not match the stored architecture: {name} has shape {stored[name][0]}, "
                f"the metadata implies {list(tensor.shape)}"
            )


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[MultimodalVAE, ModelMetadata]:
    """The model (in eval mode) and its metadata, both verified against their checksums.

    Any stored kind: a fusion model, the feed-forward network (:mod:`specvae.feedforward_network`) or an ensemble
    (:mod:`specvae.ensemble_network`); each answers ``cross_generate(spectrum -> fingerprint)``.

    Raises :class:`ModelFileError` naming the file and the problem (damaged weights, edited metadata,
    sizes that do not match the weights, unknown fusion model, ...).
    """
    path = Path(path)
    header, stored_shapes = _read_header(path)
    checksums = _stored_checksums(path, header)
    metadata = _verified_metadata(path, header, checksums)
    _check_shapes(path, metadata.architecture, stored_shapes)
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as error:
        raise ModelFileError(f"{path}: cannot read the weights ({error})") from error
    if checksums is not None and weights_sha256(state) != checksums["weights"]:
        raise ModelFileError(
            f"{path}: the weights do not match their stored checksum: the file is damaged; "
            "use an intact copy of the model"
        )
    model = build_network(metadata.architecture)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ModelFileError(f"{path}: weights do not match the stored architecture ({error})") from error
    model.to(device)
    model.eval()
    return model, metadata
