"""mmcore: a general engine for multimodal variational autoencoders.

Describe each modality (:class:`Modality`), pick a fusion model by name, train with :class:`Trainer`::

    from mmcore import Modality, build_model
    model = build_model("svae", [top, bottom], latent_dim=16)
    out = model.loss({"top": x_top, "bottom": x_bottom}, mask={"top": has_top, "bottom": has_bottom})
    out.loss.backward()
"""

from mmcore.modality import Modality
from mmcore.models import LossOutput, MultimodalVAE, available_models, build_model

__all__ = ["LossOutput", "Modality", "MultimodalVAE", "available_models", "build_model"]
__version__ = "0.1.0"
