"""Fusion models. Importing this package registers every model (see :func:`available_models`)."""

from mmcore.models.base import LossOutput, MultimodalVAE, Posterior, UnpairedDataError
from mmcore.models.registry import MODELS, available_models, build_model, register

# Each import registers its models.
from mmcore.models import svae, vaevae, jmvae, mvae, mmvae, mopoe, meme  # noqa: E402,F401  isort: skip

__all__ = [
    "MODELS",
    "LossOutput",
    "MultimodalVAE",
    "Posterior",
    "UnpairedDataError",
    "available_models",
    "build_model",
    "register",
]
