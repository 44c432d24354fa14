"""The models a benchmark ranks with, grouped into the systems its report compares.

A *system* is one way of ranking (the shipped SVAE, a VAEVAE trained identically, the feed-forward baseline),
with at most one model per ion mode. Fusion models, the feed-forward baseline and ensembles are loaded from their
``.specvae`` files alike; each answers ``cross_generate``, which is all the prediction code asks of them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from specvae.ensemble_network import ENSEMBLE
from specvae.feedforward_network import FEEDFORWARD
from specvae.pipeline.models import LoadedModel, pretrained_model_path

SYSTEM_NAMES = {"svae": "SVAE", "vaevae": "VAEVAE", FEEDFORWARD: "feed-forward", ENSEMBLE: "ensemble"}


class BenchmarkModel(LoadedModel):
    """A loaded model (the pipeline's :class:`~specvae.pipeline.models.LoadedModel`, so systems rank with the
    pipeline's own stages) with what the report says about it."""

    @property
    def network(self) -> nn.Module:
        """The network that predicts (the pipeline calls it ``model``)."""
        return self.model

    @property
    def kind(self) -> str:
        """The fusion model's registry name, or ``"feedforward"``."""
        return self.metadata.architecture.fusion

    @property
    def training_structures(self) -> set[str] | None:
        """First blocks of every structure in the model's training-set file, or ``None`` when the file has no list."""
        if "structures_inchikey14" not in self.metadata.training:
            return None
        return self.metadata.training_structures

    @property
    def n_parameters(self) -> int:
        return sum(parameter.numel() for parameter in self.network.parameters())

    def describe(self) -> dict[str, Any]:
        """What the report says about the model (JSON-able)."""
        training = self.metadata.training
        architecture = self.metadata.architecture
        return {
            "path": str(self.path),
            "file_name": Path(self.path).name,
            "ion_mode": self.ion_mode,
            "kind": self.kind,
            "latent_dim": architecture.latent_dim,
            "hidden_dim": architecture.hidden_dim,
            "n_kept_bits": architecture.n_fingerprint_bits,
            "n_parameters": self.n_parameters,
            "training_set": training.get("training_set"),
            "sources": training.get("sources"),
            "licenses": training.get("licenses"),
            "n_training_spectra": training.get("n_training_spectra"),
            "n_training_structures": training.get("n_training_structures"),
            "excluded_inchikey14_count": training.get("excluded_inchikey14_count"),
            "n_structures_in_training_file": len(training.get("structures_inchikey14", [])),
            "best_epoch": training.get("best_epoch"),
            "validation_metrics": training.get("validation_metrics"),
            "command": training.get("command"),
            "training_seconds": training.get("seconds"),
            "members": [_member_description(member) for member in training.get("members") or []],
            "fragment_weight": (training.get("fragment_formulas") or {}).get("weight"),
            "formula_weight": (training.get("formula_conditioning") or {}).get("weight"),
        }


def _member_description(member: dict[str, Any]) -> dict[str, Any]:
    """What the report says about one network of an ensemble (its own training record, as the ensemble keeps it)."""
    training = member.get("training") or {}
    return {
        "file_name": member.get("file"),
        "kind": member.get("fusion"),
        "training_set": training.get("training_set"),
        "n_training_spectra": training.get("n_training_spectra"),
        "best_epoch": training.get("best_epoch"),
        "validation_top1": (training.get("validation_metrics") or {}).get("retrieval_top1"),
    }


def load_benchmark_model(path: str | os.PathLike[str]) -> BenchmarkModel:
    """Load a model file of any kind (fusion model, feed-forward network, ensemble; CPU, eval mode)."""
    return BenchmarkModel.load(path)


@dataclass
class System:
    """A named way of ranking: one model per ion mode it covers."""

    label: str
    models: dict[str, BenchmarkModel] = field(default_factory=dict)

    def add(self, model: BenchmarkModel) -> None:
        if model.ion_mode in self.models:
            raise ValueError(
                f"{self.label}: two {model.ion_mode} mode models ({self.models[model.ion_mode].path} and {model.path})"
            )
        self.models[model.ion_mode] = model


def system_label(models: Sequence[BenchmarkModel], suffix: str = "") -> str:
    """A label from the models' kind: "SVAE", "VAEVAE", "feed-forward" (joined with "+" if they differ)."""
    kinds = sorted({SYSTEM_NAMES.get(model.kind, model.kind) for model in models})
    return "+".join(kinds) + suffix


def build_systems(
    main_paths: Sequence[str | os.PathLike[str]],
    comparisons: Sequence[tuple[str, str | os.PathLike[str]]],
    ion_modes: Sequence[str],
    shipped_label_suffix: str = " (shipped)",
) -> list[System]:
    """The main system (first) and the comparison systems, with only the models of ``ion_modes``.

    ``main_paths`` empty means the models shipped with specvae (those present for the chosen modes); their label
    then ends in ``shipped_label_suffix``.
    """
    suffix = ""
    if not main_paths:
        main_paths = [pretrained_model_path(mode) for mode in ion_modes if pretrained_model_path(mode).is_file()]
        if not main_paths:
            raise FileNotFoundError(f"no shipped model for {', '.join(ion_modes)} mode; give --model")
        suffix = shipped_label_suffix
    main_models = [load_benchmark_model(path) for path in main_paths]
    main = System(system_label(main_models, suffix))
    for model in main_models:
        if model.ion_mode in ion_modes:
            main.add(model)
    systems = [main]
    by_label: dict[str, System] = {}
    for label, path in comparisons:
        model = load_benchmark_model(path)
        if model.ion_mode not in ion_modes:
            continue
        if label == main.label:
            raise ValueError(f"comparison label {label!r} is the main system's label; choose another")
        if label not in by_label:
            by_label[label] = System(label)
            systems.append(by_label[label])
        by_label[label].add(model)
    return systems
