"""The ``.specvae`` model file: one safetensors file holding weights and everything needed to use them.

Why safetensors: loading it never executes code (unlike pickle-based ``torch.save`` files), so a model file
from a colleague is as safe to open as a spectrum file. The JSON metadata in its header holds the
architecture, the bin grid, the fingerprint definition (with its kept-bit mask), the ion mode, and what the
model was trained on: data, licenses, the InChIKey first blocks of every training structure (so a benchmark
can prove it never saw an answer), validation metrics, the command and its duration.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mmcore import MultimodalVAE
from mmcore.atomic import atomic_output
from specvae.architecture import ArchitectureConfig, build_spectrum_fingerprint_model

FORMAT_NAME = "specvae-model"
FORMAT_VERSION = 1
_METADATA_KEY = "specvae"


class ModelFileError(ValueError):
    """A model file that cannot be read: not a safetensors file, not a specvae model, or incompatible."""


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
        if values.get("format") != FORMAT_NAME:
            raise ModelFileError(f"{source}: not a specvae model file (format={values.get('format')!r})")
        if values.get("format_version", 0) > FORMAT_VERSION:
            raise ModelFileError(
                f"{source}: model file format {values['format_version']} is newer than this specvae "
                f"understands ({FORMAT_VERSION}); upgrade specvae"
            )
        return cls(
            architecture=ArchitectureConfig.from_dict(values["architecture"]),
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
    with atomic_output(path) as temporary:
        save_file(tensors, str(temporary), metadata={_METADATA_KEY: metadata.to_json()})


def read_metadata(path: str | os.PathLike[str]) -> ModelMetadata:
    """The metadata of a model file, without loading its weights (what ``specvae info`` shows)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{path}: cannot read as a specvae model file ({error})") from error
    if _METADATA_KEY not in header:
        raise ModelFileError(f"{path}: a safetensors file without specvae metadata")
    return ModelMetadata.from_json(header[_METADATA_KEY], source=str(path))


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[MultimodalVAE, ModelMetadata]:
    """The model (in eval mode) and its metadata. Raises :class:`ModelFileError` with the reason."""
    path = Path(path)
    metadata = read_metadata(path)
    model = build_spectrum_fingerprint_model(metadata.architecture)
    try:
        state = load_file(str(path), device=str(device))
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError) as error:
        raise ModelFileError(f"{path}: weights do not match the stored architecture ({error})") from error
    model.to(device)
    model.eval()
    return model, metadata
