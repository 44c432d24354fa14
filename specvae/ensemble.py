"""Build an ensemble model file from trained members (``specvae ensemble``).

An ensemble file is an ordinary ``.specvae`` file: its architecture names ``fusion="ensemble"`` and lists the
members' architectures, its weights are the members' weights under ``members.<i>.``, and it is loaded, checked and
used like any other model (:class:`specvae.ensemble_network.FingerprintEnsemble` averages the members' predicted
bit probabilities). The members must read the same bins and predict the same kept fingerprint bits of the same
ion mode, so every member was trained on the same training set with the same ``min_bit_count``.

What the file says about its training: what its members agree on about their training data (sources, licenses,
counts), each member's record (command, epochs, validation metrics), the union of
the members' training structures (what a benchmark's leakage check needs: a structure any member saw counts as
seen), and, when the training set is given, the ensemble's own validation retrieval, measured exactly as training
measures a single model's. A fitted annotation confidence belongs to one predictor, so members' fits are not
carried over: run ``specvae fit-confidence`` on the ensemble. An ensemble given as a member adds its members (and
their records); its own fits (confidence, fragment-formula weight) belong to it alone and are not carried over.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from safetensors.torch import load_file

from specvae.architecture import ArchitectureConfig
from specvae.confidence import METADATA_KEY as CONFIDENCE_KEY
from specvae.ensemble_network import ENSEMBLE, FingerprintEnsemble
from specvae.errors import SpecvaeError
from specvae.model_file import ModelMetadata, load_model, write_model_tensors
from specvae.training import validation_inputs_of
from specvae.training_set_writer import TrainingSetError

_PER_MEMBER_ONLY = ("structures_inchikey14", CONFIDENCE_KEY)
"""Training-record keys not copied into a member's summary: the structures are merged, a confidence is refitted."""

_TRAINING_DATA_KEYS = (
    "training_set",
    "sources",
    "licenses",
    "excluded_inchikey14_count",
    "n_training_spectra",
    "n_training_structures",
    "n_unpaired_spectra",
    "n_unpaired_molecules",
    "n_validation_spectra",
    "n_validation_structures",
)
"""What members say about their training data; the ensemble states each one all its members agree on."""


class EnsembleError(SpecvaeError, ValueError):
    """Members that cannot form one ensemble (other ion mode, bins or kept bits)."""


def _check_compatible(paths: Sequence[str | os.PathLike[str]], metadatas: Sequence[ModelMetadata]) -> None:
    first_path, first = paths[0], metadatas[0]
    for path, metadata in zip(paths[1:], metadatas[1:], strict=True):
        for what, mine, theirs in (
            ("ion mode", metadata.ion_mode, first.ion_mode),
            ("spectrum bins", metadata.binning, first.binning),
            ("fingerprint and kept bits", metadata.fingerprint, first.fingerprint),
        ):
            if mine != theirs:
                raise EnsembleError(
                    f"{path}: its {what} differ from those of {first_path}; ensemble members must be trained on "
                    "the same training set, ion mode and min bit count"
                )


def _decoded(value: Any) -> Any:
    """A list stored as JSON text (as older model files store ``sources`` and ``licenses``) as the list itself."""
    if isinstance(value, str) and value.startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _member_summary(path: str | os.PathLike[str], metadata: ModelMetadata) -> dict[str, Any]:
    training = {key: value for key, value in metadata.training.items() if key not in _PER_MEMBER_ONLY}
    return {"file": Path(path).name, "fusion": metadata.architecture.fusion, "training": training}


def build_ensemble(
    member_paths: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    training_set: str | os.PathLike[str] | None = None,
    command: str = "",
) -> ModelMetadata:
    """Write the ensemble of ``member_paths`` to ``output`` and return its metadata.

    With ``training_set`` (the file the members were trained on), the ensemble's validation retrieval is measured
    on the same validation spectra a single model's training measures, and stored as its ``validation_metrics``.
    Raises :class:`EnsembleError` for members that cannot be combined.
    """
    started = time.perf_counter()
    if len(member_paths) < 2:
        raise EnsembleError(f"an ensemble needs at least two member model files, got {len(member_paths)}")
    loaded = [load_model(path) for path in member_paths]  # verifies each member's checksums
    metadatas = [metadata for _, metadata in loaded]
    _check_compatible(member_paths, metadatas)
    first = metadatas[0]
    networks, architectures, summaries, tensors = [], [], [], {}
    for path, (model, metadata) in zip(member_paths, loaded, strict=True):
        stored = load_file(str(path), device="cpu")
        if metadata.architecture.fusion == ENSEMBLE:  # an ensemble given as a member: its members join
            inner = list(model.members)
            prefixes = [f"members.{index}." for index in range(len(inner))]
            architectures += metadata.architecture.members
            summaries += metadata.training.get("members") or [{} for _ in inner]
        else:
            inner, prefixes = [model], [""]
            architectures.append(metadata.architecture.to_dict())
            summaries.append(_member_summary(path, metadata))
        for network, prefix in zip(inner, prefixes, strict=True):
            # the weights as stored (dtype included): the ensemble predicts exactly what its members predict
            tensors.update(
                {
                    f"members.{len(networks)}.{name[len(prefix) :]}": tensor
                    for name, tensor in stored.items()
                    if name.startswith(prefix)
                }
            )
            networks.append(network)
    ensemble = FingerprintEnsemble(networks).eval()
    architecture = ArchitectureConfig(
        n_bins=first.architecture.n_bins,
        n_fingerprint_bits=first.architecture.n_fingerprint_bits,
        fusion=ENSEMBLE,
        members=architectures,
    )
    structures = sorted(set().union(*(metadata.training_structures for metadata in metadatas)))
    stated = [{key: _decoded(metadata.training.get(key)) for key in _TRAINING_DATA_KEYS} for metadata in metadatas]
    shared_data = {
        key: stated[0][key]
        for key in _TRAINING_DATA_KEYS
        if stated[0][key] is not None and all(one[key] == stated[0][key] for one in stated)
    }
    training: dict[str, Any] = {
        **shared_data,
        "members": summaries,
        "structures_inchikey14": structures,
        "command": command,
    }
    if training_set is not None:
        training["validation_metrics"] = _validation_metrics(ensemble, first, member_paths[0], training_set)
    training["seconds"] = round(time.perf_counter() - started, 1)
    metadata = ModelMetadata(
        architecture=architecture,
        binning=first.binning,
        fingerprint=first.fingerprint,
        ion_mode=first.ion_mode,
        training=training,
    )
    write_model_tensors(output, tensors, metadata.to_json())
    return metadata


def _validation_metrics(
    ensemble: FingerprintEnsemble,
    first: ModelMetadata,
    first_path: str | os.PathLike[str],
    training_set: str | os.PathLike[str],
) -> dict[str, float]:
    """Validation retrieval of the ensemble, on the validation spectra the first member's training used."""
    try:
        inputs = validation_inputs_of(first, training_set, first_path)
    except TrainingSetError as error:
        raise EnsembleError(str(error)) from None
    return inputs.metric(ensemble, None)
