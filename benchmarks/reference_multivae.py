"""The reference side of ``bench_train_step.py``: the same models and setup built with MultiVae.

MultiVae (PyPI ``multivae``, tested with 1.0.3) is the widely used multimodal VAE library the recorded reference
figures come from. It is not a dependency of this project: install it in a separate virtual environment together
with this project (see ``benchmarks/README.md``), so that both libraries run in one interpreter on one torch.

Why a module of its own: everything MultiVae-specific (configs, its dataset classes, its encoder/decoder base
classes) stays here, and the benchmark script only asks for "a reference model and a batch it accepts".

Architectures match ``bench_train_step.make_modalities`` layer for layer by default (``architectures="matched"``):

* encoders: MultiVae's own ``Encoder_VAE_MLP(n_hidden=0)``, D→512→(mean, log-variance of the latent), the
  same layers as our ``Linear(D, 512), ReLU`` body plus a Gaussian head;
* decoders: latent→512→D with no output activation, like our ``MLP(latent, [512], D)`` (MultiVae's default
  ``Decoder_AE_MLP`` ends in a sigmoid, which we do not have);
* JMVAE's joint encoder: one D→512 body per modality, concatenated, one linear head, like our
  ``SubsetEncoder`` (MultiVae's default ``MultipleHeadJointEncoder`` stacks full unimodal encoders and two
  more 512-wide layers).

``architectures="library"`` uses MultiVae's defaults for the decoders and the joint encoder instead.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

try:
    from multivae.data.datasets.base import IncompleteDataset, MultimodalBaseDataset
    from multivae.models import JMVAE, MMVAE, MVAE, JMVAEConfig, MMVAEConfig, MoPoE, MoPoEConfig, MVAEConfig
    from multivae.models.base.base_config import BaseAEConfig
    from multivae.models.nn.base_architectures import BaseJointEncoder
    from multivae.models.nn.default_architectures import Decoder_AE_MLP, Encoder_VAE_MLP
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn.base_architectures import BaseDecoder
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "benchmarks/reference_multivae.py needs MultiVae (pip install multivae==1.0.3) in the same environment "
        "as this project; see benchmarks/README.md"
    ) from error

ARCHITECTURES = ("matched", "library")
# mmcore registry name -> the MultiVae model that implements the same method.
REFERENCE_MODELS = ("mvae", "mopoe", "mmvae", "jmvae")


class PlainMLPDecoder(BaseDecoder):
    """latent→hidden→D with ReLU between and nothing after: the decoder of the benchmark setup, in MultiVae's API."""

    def __init__(self, latent_dim: int, hidden: int, output_dim: int) -> None:
        BaseDecoder.__init__(self)
        self.layers = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, output_dim))

    def forward(self, z: Tensor) -> ModelOutput:
        return ModelOutput(reconstruction=self.layers(z))


class ConcatenatedBodiesJointEncoder(BaseJointEncoder):
    """One D→hidden body per modality, concatenated, linear mean and log-variance heads (our SubsetEncoder)."""

    def __init__(self, input_dims: Mapping[str, int], latent_dim: int, hidden: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.bodies = nn.ModuleDict(
            {name: nn.Sequential(nn.Linear(dim, hidden), nn.ReLU()) for name, dim in input_dims.items()}
        )
        self.embedding = nn.Linear(hidden * len(input_dims), latent_dim)
        self.log_var = nn.Linear(hidden * len(input_dims), latent_dim)

    def forward(self, x: Mapping[str, Tensor]) -> ModelOutput:
        features = torch.cat([body(x[name]) for name, body in self.bodies.items()], dim=-1)
        return ModelOutput(embedding=self.embedding(features), log_covariance=self.log_var(features))


def _config(name: str, input_dims: Mapping[str, int], latent_dim: int):
    common = {
        "n_modalities": len(input_dims),
        "latent_dim": latent_dim,
        "input_dims": {key: (dim,) for key, dim in input_dims.items()},
        "decoders_dist": {key: "normal" for key in input_dims},
    }
    if name == "mvae":
        # k=0: no random-subset ELBOs, as the benchmark's mmcore MVAE (n_random_subsets=0); warmup=0: β=1 from step one.
        return MVAE, MVAEConfig(**common, k=0, warmup=0)
    if name == "mopoe":
        return MoPoE, MoPoEConfig(**common)
    if name == "mmvae":
        # K=10 draws, DReG on the looser (per-component IWAE) bound, Gaussian posterior and fixed N(0, I) prior:
        # mmcore's MMVAE(estimator="dreg", variant="looser", posterior="gaussian", learn_prior_scale=False).
        return MMVAE, MMVAEConfig(
            **common, K=10, prior_and_posterior_dist="normal", learn_prior=False, loss="dreg_looser"
        )
    if name == "jmvae":
        # alpha=1 as mmcore's JMVAE default (MultiVae's default 0.1 costs the same); warmup=0: no annealing.
        return JMVAE, JMVAEConfig(**common, alpha=1.0, warmup=0)
    raise KeyError(f"MultiVae reference has no model {name!r}; it covers {REFERENCE_MODELS}")


def build_reference_model(
    name: str, input_dims: Mapping[str, int], latent_dim: int, hidden: int, architectures: str = "matched"
) -> nn.Module:
    """The MultiVae model that implements mmcore's ``name`` on the benchmark setup (Gaussian likelihood, scale 1)."""
    if architectures not in ARCHITECTURES:
        raise ValueError(f"architectures must be one of {ARCHITECTURES}, got {architectures!r}")
    if hidden != 512:
        raise ValueError(f"MultiVae's MLP encoder has a fixed 512-wide hidden layer; the benchmark asked for {hidden}")
    model_class, config = _config(name, input_dims, latent_dim)
    encoders = {
        key: Encoder_VAE_MLP(BaseAEConfig(input_dim=(dim,), latent_dim=latent_dim), n_hidden=0)
        for key, dim in input_dims.items()
    }
    if architectures == "matched":
        decoders = {key: PlainMLPDecoder(latent_dim, hidden, dim) for key, dim in input_dims.items()}
    else:
        decoders = {
            key: Decoder_AE_MLP(BaseAEConfig(input_dim=(dim,), latent_dim=latent_dim))
            for key, dim in input_dims.items()
        }
    if name == "jmvae" and architectures == "matched":
        joint = ConcatenatedBodiesJointEncoder(input_dims, latent_dim, hidden)
        return model_class(config, encoders=encoders, decoders=decoders, joint_encoder=joint)
    return model_class(config, encoders=encoders, decoders=decoders)


def supports_missing(name: str) -> bool:
    """Whether the MultiVae model trains on batches with unpaired samples (JMVAE, like ours, does not)."""
    return name != "jmvae"


def reference_batch(data: Mapping[str, Tensor], mask: Mapping[str, Tensor]):
    """Our batch in MultiVae's form: a plain dataset when every sample is paired, else an ``IncompleteDataset``.

    MultiVae expects missing entries filled with zeros and a boolean mask per modality.
    """
    if all(bool(present.all()) for present in mask.values()):
        return MultimodalBaseDataset(data=dict(data), labels=None)
    zeroed = {
        name: torch.where(mask[name].reshape(-1, *([1] * (value.dim() - 1))), value, torch.zeros_like(value))
        for name, value in data.items()
    }
    return IncompleteDataset(data=zeroed, masks={name: present.clone() for name, present in mask.items()})


def reference_loss(model: nn.Module, batch) -> Tensor:
    """The scalar MultiVae minimises for one training step on ``batch``."""
    return model(batch).loss
