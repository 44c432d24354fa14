"""The interface every fusion model answers, and the plumbing they share.

A batch is a mapping ``data`` from modality name to a tensor whose first axis is the batch, plus a
mapping ``mask`` from modality name to a boolean ``(batch,)`` tensor that says which samples have that
modality. A modality may be absent from ``data`` altogether (missing for the whole batch); values of
masked-out samples are placeholders (zeros, say) and never influence the loss or its gradient.

The trainer, the metrics and the command line only use the methods of :class:`MultimodalVAE`, so they
never branch on the model's name.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import torch
from torch import Tensor, nn

from mmcore.distributions import DiagonalGaussian, draw_standard_normal
from mmcore.experts import ExpertEncoder, SubsetEncoder, fresh_copy
from mmcore.modality import Modality

Data = Mapping[str, Tensor]
Mask = Mapping[str, Tensor]


class Posterior(Protocol):
    """What :meth:`MultimodalVAE.posterior` returns: a Gaussian, or a mixture with moment-matched mean/logvar."""

    @property
    def mean(self) -> Tensor: ...

    @property
    def logvar(self) -> Tensor: ...

    def rsample(self, n_samples: int | None = None) -> Tensor: ...


@dataclass
class LossOutput:
    """A training loss and its named parts.

    ``loss`` is the scalar to minimise (the negative objective averaged over the batch). ``terms`` holds
    the unweighted parts, each averaged over the batch, for logging: ``nll/<modality>`` for negative
    log-likelihoods, ``kl/<what>`` for KL divergences, and model-specific entries.
    """

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)

    def detached_terms(self) -> dict[str, float]:
        return {name: float(value.detach()) for name, value in self.terms.items()}


class UnpairedDataError(ValueError):
    """Raised by models that can only learn from fully paired samples (JMVAE) when given unpaired ones."""


class BatchShapeError(ValueError):
    """A batch whose tensors or masks do not have the shapes the model's modalities expect."""


def input_dim_of(encoder: nn.Module) -> int | None:
    """The feature size an encoder reads, if its first layer says (``in_features``), else None (convolutions...)."""
    for module in encoder.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding, nn.RNNBase)):
            return None
        in_features = getattr(module, "in_features", None)
        if isinstance(in_features, int):
            return in_features
    return None


def check_feature_dim(modality: Modality, input_dim: int | None) -> None:
    """Refuse a Modality whose ``feature_dim`` is not what its encoder outputs (checked on two zero inputs)."""
    if input_dim is None:
        return
    encoder = modality.encoder
    first = next(encoder.parameters(), None)
    if first is not None and first.is_meta:
        # A model built on the meta device (shapes only, as a model file is checked before its weights are
        # allocated): running it would import torch's compiler stack (seconds) to check what the real build checks.
        return
    was_training = encoder.training
    try:
        encoder.eval()
        with torch.no_grad():
            parameter = next(encoder.parameters(), None)
            dtype = parameter.dtype if parameter is not None else torch.float32
            device = parameter.device if parameter is not None else None
            features = encoder(torch.zeros(2, input_dim, dtype=dtype, device=device))
    except Exception:  # an encoder that cannot take zeros (or is not an MLP) is checked when it first runs
        return
    finally:
        encoder.train(was_training)
    if isinstance(features, Tensor) and features.dim() >= 1 and int(features.shape[-1]) != modality.feature_dim:
        raise ValueError(
            f"modality {modality.name!r}: feature_dim is {modality.feature_dim} but its encoder outputs "
            f"{int(features.shape[-1])} features (input of {input_dim})"
        )


class MultimodalVAE(nn.Module):
    """Base class of every fusion model.

    Subclasses implement :meth:`loss` and :meth:`posterior` and set ``name`` and ``description``.
    The posterior of a sample is always conditioned on the modalities that sample has (its mask).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, modalities: Sequence[Modality], latent_dim: int) -> None:
        super().__init__()
        names = [modality.name for modality in modalities]
        if len(names) < 2:
            raise ValueError(f"a multimodal VAE needs at least two modalities, got {names}")
        if len(set(names)) != len(names):
            raise ValueError(f"modality names must be unique, got {names}")
        if latent_dim <= 0:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}")
        self.modality_names: list[str] = names
        self.latent_dim = latent_dim
        self.feature_dims = {modality.name: modality.feature_dim for modality in modalities}
        self.reconstruction_weights = {modality.name: modality.reconstruction_weight for modality in modalities}
        # The model owns copies of the user's networks (same weights): two models built from one Modality list
        # must not train each other's parameters.
        self.decoders = nn.ModuleDict({modality.name: copy.deepcopy(modality.decoder) for modality in modalities})
        self.likelihoods = nn.ModuleDict({modality.name: copy.deepcopy(modality.likelihood) for modality in modalities})
        # Plain dict, not a ModuleDict: templates are registered only once a model builds an expert from them.
        self._encoder_templates = {modality.name: modality.encoder for modality in modalities}
        self._templates_used: set[str] = set()
        self.input_dims = {modality.name: input_dim_of(modality.encoder) for modality in modalities}
        """The feature size each modality's encoder reads (None where its first layer does not say)."""
        for modality in modalities:
            check_feature_dim(modality, self.input_dims[modality.name])

    # ------------------------------------------------------------------ building blocks for subclasses
    def _take_body(self, name: str) -> nn.Module:
        """A copy of the user's encoder (same weights) the first time a modality's body is asked for, freshly
        initialised copies afterwards."""
        if name not in self._templates_used:
            self._templates_used.add(name)
            return copy.deepcopy(self._encoder_templates[name])
        return fresh_copy(self._encoder_templates[name])

    def make_expert(self, name: str) -> ExpertEncoder:
        """A Gaussian encoder reading modality ``name`` (a new network each call)."""
        return ExpertEncoder(self._take_body(name), self.feature_dims[name], self.latent_dim)

    def make_subset_encoder(self, names: Iterable[str]) -> SubsetEncoder:
        """A Gaussian encoder reading the concatenated features of the modalities ``names``."""
        names = list(names)
        return SubsetEncoder({name: self._take_body(name) for name in names}, self.feature_dims, self.latent_dim)

    def noise(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """Standard normal noise for reparametrised samples.

        Every model draws its Gaussian noise here, so a test can replace this method with one that
        returns fixed noise and compare the loss with an ELBO computed by hand.
        """
        return draw_standard_normal(shape, like)

    def rsample(self, distribution: DiagonalGaussian, n_samples: int | None = None) -> Tensor:
        shape = distribution.mean.shape if n_samples is None else (n_samples, *distribution.mean.shape)
        return distribution.rsample(noise=self.noise(tuple(shape), distribution.mean))

    @staticmethod
    def batch_size(data: Data) -> int:
        for value in data.values():
            return int(value.shape[0])
        raise ValueError("the batch holds no modality")

    def presence(self, data: Data, mask: Mask | None = None) -> dict[str, Tensor]:
        """A boolean ``(batch,)`` presence vector for every modality of the model.

        A modality absent from ``data`` is missing for every sample; without ``mask`` every given
        modality counts as present.
        """
        unknown = set(data) - set(self.modality_names)
        if unknown:
            raise KeyError(f"unknown modalities {sorted(unknown)}; this model has {self.modality_names}")
        batch = self.batch_size(data)
        self.check_batch(data, mask, batch)
        device = next(iter(data.values())).device
        present = {}
        for name in self.modality_names:
            if name not in data:
                present[name] = torch.zeros(batch, dtype=torch.bool, device=device)
            elif mask is None or name not in mask:
                present[name] = torch.ones(batch, dtype=torch.bool, device=device)
            else:
                present[name] = mask[name].to(device=device, dtype=torch.bool)
        return present

    def check_batch(self, data: Data, mask: Mask | None, batch: int) -> None:
        """Raise :class:`BatchShapeError` naming the modality, the expected and the given shape."""
        for name, x in data.items():
            if x.dim() == 0 or int(x.shape[0]) != batch:
                sizes = {key: tuple(value.shape) for key, value in data.items()}
                raise BatchShapeError(
                    f"modality {name!r}: batch size {tuple(x.shape)[:1]} differs from {batch}; shapes given: {sizes}"
                )
            expected = self.input_dims.get(name)
            if expected is not None and x.is_floating_point():
                # A Linear reads the last axis; one after a Flatten reads every axis but the batch.
                flat = math.prod(x.shape[1:]) if x.dim() >= 2 else None
                if x.dim() < 2 or (int(x.shape[-1]) != expected and flat != expected):
                    raise BatchShapeError(
                        f"modality {name!r}: expected data of shape (batch, {expected}) (its encoder reads "
                        f"{expected} features), given {tuple(x.shape)}"
                    )
        for name, present in (mask or {}).items():
            if name not in self.modality_names:
                raise KeyError(f"mask names unknown modality {name!r}; this model has {self.modality_names}")
            if tuple(present.shape) != (batch,):
                raise BatchShapeError(
                    f"mask of modality {name!r}: expected shape ({batch},), given {tuple(present.shape)}"
                )

    def log_likelihood(self, name: str, z: Tensor, x: Tensor) -> Tensor:
        """log p(x_name | z) per sample (unweighted); ``z`` may carry leading sample axes."""
        return self.likelihoods[name].log_prob(self.decoders[name](z), x)

    # ------------------------------------------------------------------ the interface
    def forward(self, data: Data, mask: Mask | None = None, beta: float = 1.0) -> LossOutput:
        """Same as :meth:`loss`; lets DistributedDataParallel wrap any model."""
        return self.loss(data, mask, beta)

    def loss(self, data: Data, mask: Mask | None = None, beta: float = 1.0) -> LossOutput:
        """The training loss on a batch with any modality missing for any sample; ``beta`` weights KL terms."""
        raise NotImplementedError

    def posterior(self, data: Data, mask: Mask | None = None) -> Posterior:
        """q(z | the modalities each sample has), as used for inference and cross-generation."""
        raise NotImplementedError

    def prior(self, n_samples: int, like: Tensor | None = None) -> DiagonalGaussian:
        """The prior p(z) = N(0, I) for ``n_samples`` samples."""
        if like is None:
            like = next(self.parameters())
        return DiagonalGaussian.standard((n_samples, self.latent_dim), like)

    def sample_prior(self, n_samples: int) -> Tensor:
        return self.prior(n_samples).rsample()

    def decode(self, z: Tensor, names: Iterable[str] | None = None) -> dict[str, Tensor]:
        """The likelihood parameters of each named modality (all by default) given latent codes."""
        names = self.modality_names if names is None else list(names)
        return {name: self.decoders[name](z) for name in names}

    def decode_mean(self, z: Tensor, names: Iterable[str] | None = None) -> dict[str, Tensor]:
        """The expected data of each named modality given latent codes."""
        return {name: self.likelihoods[name].mean(params) for name, params in self.decode(z, names).items()}

    @torch.no_grad()
    def generate(self, n_samples: int) -> dict[str, Tensor]:
        """Joint generation: z from the prior, every modality decoded to its mean."""
        return self.decode_mean(self.sample_prior(n_samples))

    @torch.no_grad()
    def reconstruct(self, data: Data, mask: Mask | None = None) -> dict[str, Tensor]:
        """Every modality decoded from the posterior mean given what each sample has."""
        return self.decode_mean(self.posterior(data, mask).mean)

    @torch.no_grad()
    def cross_generate(
        self,
        data: Data,
        sources: Iterable[str],
        targets: Iterable[str] | None = None,
        sample_latent: bool = False,
    ) -> dict[str, Tensor]:
        """Generate ``targets`` (default: all other modalities) from the ``sources`` subset alone."""
        sources = list(sources)
        missing = [name for name in sources if name not in data]
        if missing:
            raise KeyError(f"cross-generation sources {missing} are not in the batch")
        subset = {name: data[name] for name in sources}
        posterior = self.posterior(subset)
        z = posterior.rsample() if sample_latent else posterior.mean
        targets = [name for name in self.modality_names if name not in sources] if targets is None else list(targets)
        return self.decode_mean(z, targets)
