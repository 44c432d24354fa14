"""mmcore: a general engine for multimodal variational autoencoders.

Describe each modality (:class:`Modality`), pick a fusion model by name, train with :class:`Trainer`::

    from mmcore import Modality, build_model
    model = build_model("svae", [top, bottom], latent_dim=16)
    out = model.loss({"top": x_top, "bottom": x_bottom}, mask={"top": has_top, "bottom": has_bottom})
    out.loss.backward()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmcore.modality import Modality
    from mmcore.models import LossOutput, MultimodalVAE, available_models, build_model
    from mmcore.persistence import load_model, save_model

__all__ = ["LossOutput", "Modality", "MultimodalVAE", "available_models", "build_model", "load_model", "save_model"]
__version__ = "0.1.0"

# Imported on first use (PEP 562), so that torch-free helpers such as mmcore.atomic and mmcore.output_paths
# load in milliseconds: `specvae --help` checks output paths with them and should not wait 2 s for torch.
_LAZY = {name: "mmcore.modality" if name == "Modality" else "mmcore.models" for name in __all__}
_LAZY |= {"load_model": "mmcore.persistence", "save_model": "mmcore.persistence"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mmcore' has no attribute {name!r}")
