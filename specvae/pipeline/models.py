"""The models a pipeline predicts with: one per ion mode, each with the bin grid and fingerprint stored beside it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar

from matchms import Spectrum

from mmcore import MultimodalVAE
from specvae.confidence import ConfidenceModel, model_confidence
from specvae.errors import SpecvaeError
from specvae.fingerprints import FingerprintDefinition
from specvae.formula_conditioning import FormulaConditioning, model_formula_conditioning, model_reads_formulas
from specvae.fragment_formulas import FragmentFormulaScoring, model_fragment_scoring
from specvae.model_file import ModelMetadata, load_model
from specvae.spectra.binning import SpectrumBinner
from specvae.spectra.metadata import spectrum_ion_mode

ION_MODES = ("positive", "negative")

_Loaded = TypeVar("_Loaded", bound="LoadedModel")


def pretrained_model_path(ion_mode: str) -> Path:
    """Path of the model shipped in the package for ``ion_mode``."""
    if ion_mode not in ION_MODES:
        raise ValueError(f"ion mode must be one of {ION_MODES}, got {ion_mode!r}")
    return Path(str(resources.files("specvae") / "pretrained" / f"{ion_mode}.specvae"))


@dataclass
class LoadedModel:
    """A model with what it needs around it: its bin grid and its fingerprint definition."""

    model: MultimodalVAE
    metadata: ModelMetadata
    path: str

    @classmethod
    def load(cls: type[_Loaded], path: str | os.PathLike[str]) -> _Loaded:
        """The model file at ``path`` (any kind the file format holds: fusion model, feed-forward network,
        ensemble), in eval mode, with its metadata checked against its checksum."""
        model, metadata = load_model(path)
        return cls(model, metadata, str(path))

    @property
    def ion_mode(self) -> str:
        """The ion mode stored in the model file: the spectra this model serves."""
        return self.metadata.ion_mode

    @property
    def binner(self) -> SpectrumBinner:
        return SpectrumBinner.from_dict(self.metadata.binning)

    @property
    def fingerprint(self) -> FingerprintDefinition:
        return FingerprintDefinition.from_dict(self.metadata.fingerprint)

    @property
    def confidence(self) -> ConfidenceModel | None:
        """The model's fitted confidence (``specvae fit-confidence``), or None: the confidence column stays empty."""
        return model_confidence(self.metadata.training)

    @property
    def fragment_scoring(self) -> FragmentFormulaScoring | None:
        """The model's fragment-formula weight (``specvae fit-fragment-weight``), or None: fingerprint score alone."""
        return model_fragment_scoring(self.metadata.training)

    @property
    def formula_conditioning(self) -> FormulaConditioning | None:
        """The model's formula-conditioning weight (:mod:`specvae.formula_conditioning`), or None."""
        conditioning = model_formula_conditioning(self.metadata.training)
        if conditioning is not None and not model_reads_formulas(self.model):
            raise SpecvaeError(f"{self.path}: it has a formula-conditioning weight but no network that reads formulas")
        return conditioning


def load_models(paths: Sequence[str | os.PathLike[str]]) -> dict[str, LoadedModel]:
    """The model files by the ion mode stored in each; raises ``ValueError`` for two models of one mode."""
    models: dict[str, LoadedModel] = {}
    for path in paths:
        loaded = LoadedModel.load(path)
        if loaded.ion_mode in models:
            raise ValueError(f"two models for {loaded.ion_mode} mode: {models[loaded.ion_mode].path} and {path}")
        models[loaded.ion_mode] = loaded
    return models


def shared_fingerprint(models: dict[str, LoadedModel]) -> FingerprintDefinition:
    """The full fingerprint definition every model's kept bits are taken from; ``ValueError`` when they differ
    (their candidates would need two sets of fingerprints)."""
    definitions = {loaded.fingerprint.without_mask() for loaded in models.values()}
    if len(definitions) != 1:
        raise ValueError("the models use different fingerprint definitions; load them into separate Annotators")
    return definitions.pop()


def model_for(spectrum: Spectrum, models: dict[str, LoadedModel]) -> tuple[str, LoadedModel]:
    """The ion mode the spectrum states and the model for it; :class:`SpecvaeError` saying why there is none."""
    mode = spectrum_ion_mode(spectrum)
    if mode is None:
        raise SpecvaeError("the spectrum states no ion mode or charge: cannot choose a model")
    if mode not in models:
        raise SpecvaeError(f"no model for {mode} mode is loaded (have: {', '.join(models)})")
    return mode, models[mode]
