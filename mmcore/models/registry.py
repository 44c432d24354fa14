"""Fusion models by name: how the trainer, the benchmarks and the CLI pick a model."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, TypeVar

from mmcore.modality import Modality
from mmcore.models.base import MultimodalVAE

ModelClass = TypeVar("ModelClass", bound=type[MultimodalVAE])

MODELS: dict[str, type[MultimodalVAE]] = {}


def register(cls: ModelClass) -> ModelClass:
    """Class decorator: make a model available under ``cls.name``."""
    if not cls.name or not cls.description:
        raise ValueError(f"{cls.__name__} must set a name and a one-line description")
    if cls.name in MODELS and MODELS[cls.name] is not cls:
        raise ValueError(f"two models registered as {cls.name!r}")
    MODELS[cls.name] = cls
    return cls


def available_models() -> dict[str, str]:
    """Model name -> one-line description, sorted by name."""
    return {name: MODELS[name].description for name in sorted(MODELS)}


def build_model(name: str, modalities: Sequence[Modality], latent_dim: int, **options: Any) -> MultimodalVAE:
    """A fresh model of the named fusion type; ``options`` go to the model's constructor."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}") from None
    accepted = [
        parameter.name
        for parameter in inspect.signature(cls.__init__).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"model {name!r} has no option(s) {unknown}; its options: {accepted or 'none'}")
    model = cls(modalities, latent_dim, **options)
    model.build_options = dict(options)  # what mmcore.persistence.save_model records to rebuild the model
    return model
