"""MMVAE: a uniform mixture of unimodal experts, trained with stratified ELBO, IWAE or DReG bounds.

Shi, Siddharth, Paige & Torr (2019), "Variational Mixture-of-Experts Autoencoders for Multi-Modal Deep
Generative Models" (NeurIPS). The references below are to its method section (Sec. 3) and to the authors'
objectives by name.

Posterior (Sec. 3): for the set S of modalities a sample has, the uniform mixture of their experts

    q_Φ(z | X_S) = 1/|S| Σ_{m ∈ S} q_m(z | x_m),

each q_m a diagonal Gaussian or, with ``posterior="laplace"``, a diagonal Laplace. A sample with no
modality gets the prior.

Loss (Sec. 3, stratified sampling: K draws z_m^k ~ q_m from every present component m). The log-weights

    log w_m^k = Σ_{i ∈ S} λ_i log p(x_i | z_m^k) + β [log p(z_m^k) − log q_Φ(z_m^k | X_S)]

reconstruct every present modality from every component's draws (λ_i the reconstruction weights; β = 1
gives true importance weights). The bounds, per sample:

* ``estimator="elbo"``: 1/|S| Σ_m 1/K Σ_k log w_m^k (the stratified ELBO; ``variant`` does not matter);
* ``estimator="iwae"``, ``variant="stratified"``: log 1/(|S|K) Σ_m Σ_k w_m^k (the authors' ``m_iwae``);
* ``estimator="iwae"``, ``variant="looser"``: 1/|S| Σ_m log 1/K Σ_k w_m^k (``m_iwae_looser``: the
  average of per-component IWAEs, which asks every component to explain all modalities by itself);
* ``estimator="dreg"``: the same value as ``"iwae"`` of the same variant, with the doubly reparametrised
  gradient of Tucker, Lawson, Gu & Maddison (2018) for the encoders: the score-function term is dropped
  (q_Φ inside log w is evaluated with stopped gradients) and each draw's path derivative is weighted by
  its squared normalised weight. For the stratified bound the weights are normalised over all |S|K draws,
  for the looser one within each component, as in the authors' ``m_dreg`` / ``m_dreg_looser``. Decoder
  (and prior) gradients are the IWAE ones. With a mixture in the denominator this is the authors'
  estimator, not a proven-unbiased one.

A sample with one modality is an ordinary (IWAE) VAE of that modality. Only present modalities are
reconstructed. The loss is the negative bound summed over samples and divided by the batch size.

Prior: N(0, I) for Gaussian posteriors; for Laplace posteriors a Laplace with zero location and unit scale
per dimension, as in the authors' code. Its scale is fixed unless ``learn_prior_scale=True`` (the authors'
``--learn-prior``), which learns one log-scale per latent dimension (for either family).

Efficiency: each present modality is encoded once per step; the K·|S| draws are decoded by each decoder in
one batched call ``(K, M, batch, latent)``, and with missing data only the draws that count (of present
components of samples that have the modality); the DReG weighting is a gradient hook on the draws, so no
second forward pass is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mmcore.distributions import DiagonalGaussian, DiagonalLaplace, MixtureOfExperts, clamp_logvar
from mmcore.modality import Modality
from mmcore.models.base import Data, LossOutput, Mask, MultimodalVAE
from mmcore.models.registry import register
from mmcore.models.subsets import mixes_samples, stack_experts, zero_missing

ESTIMATORS = ("elbo", "iwae", "dreg")
VARIANTS = ("stratified", "looser")
POSTERIOR_FAMILIES = ("gaussian", "laplace")

Latent = DiagonalGaussian | DiagonalLaplace


def standard_laplace_from_normal(noise: Tensor) -> Tensor:
    """Unit-scale Laplace variates from standard normal ``noise``, through the two CDFs.

    u = Φ(ε) − ½ is uniform on (−½, ½), and the Laplace inverse CDF −sign(u) log(1 − 2|u|) equals
    −sign(ε) log(2 Φ(−|ε|)), computed here with ``log_ndtr`` so that the tails stay finite.
    Why: every model draws its noise from :meth:`MultimodalVAE.noise` (which tests replace with fixed
    noise); mapping that normal draw keeps one noise source for the Laplace posterior too.
    """
    return -torch.sign(noise) * (math.log(2.0) + torch.special.log_ndtr(-noise.abs()))


def average_over_components(values: Tensor, valid: Tensor, n_components: Tensor) -> Tensor:
    """Per-sample mean of ``values`` ``(K, M, batch)`` over the draws and the valid components ``(M, batch)``."""
    per_component = values.mean(0)
    return torch.where(valid, per_component, torch.zeros_like(per_component)).sum(0) / n_components


@register
class MMVAE(MultimodalVAE):
    """Uniform mixture of unimodal experts trained with a stratified ELBO, IWAE or DReG bound (MMVAE)."""

    name = "mmvae"
    description = "Uniform mixture of unimodal experts; stratified or looser ELBO/IWAE/DReG bounds (MMVAE)"

    def __init__(
        self,
        modalities: Sequence[Modality],
        latent_dim: int,
        *,
        estimator: str = "dreg",
        variant: str = "looser",
        n_importance_samples: int | None = None,
        posterior: str = "gaussian",
        learn_prior_scale: bool = False,
    ) -> None:
        super().__init__(modalities, latent_dim)
        if estimator not in ESTIMATORS:
            raise ValueError(f"MMVAE estimator must be one of {ESTIMATORS}, got {estimator!r}")
        if variant not in VARIANTS:
            raise ValueError(f"MMVAE variant must be one of {VARIANTS}, got {variant!r}")
        if posterior not in POSTERIOR_FAMILIES:
            raise ValueError(f"MMVAE posterior must be one of {POSTERIOR_FAMILIES}, got {posterior!r}")
        if n_importance_samples is None:
            n_importance_samples = 1 if estimator == "elbo" else 10
        if n_importance_samples < 1:
            raise ValueError(f"n_importance_samples must be >= 1, got {n_importance_samples}")
        self.estimator = estimator
        self.variant = variant
        self.n_importance_samples = n_importance_samples
        self.posterior_family = posterior
        self.encoders = nn.ModuleDict({name: self.make_expert(name) for name in self.modality_names})
        # Unit variance for the Gaussian prior; unit *scale* (variance 2) for the Laplace prior, as in the paper's code.
        initial_logvar = torch.full((latent_dim,), 0.0 if posterior == "gaussian" else math.log(2.0))
        if learn_prior_scale:
            self.prior_logvar = nn.Parameter(initial_logvar)
        else:
            self.register_buffer("prior_logvar", initial_logvar)

    # ------------------------------------------------------------------ distributions
    def _family(self, mean: Tensor, logvar: Tensor) -> Latent:
        return DiagonalGaussian(mean, logvar) if self.posterior_family == "gaussian" else DiagonalLaplace(mean, logvar)

    def prior(self, n_samples: int, like: Tensor | None = None) -> Latent:
        """p(z): zero location, the (possibly learned) scale, of the posterior's family."""
        logvar = clamp_logvar(self.prior_logvar).expand(n_samples, self.latent_dim)
        if like is not None:
            logvar = logvar.to(dtype=like.dtype, device=like.device)
        return self._family(torch.zeros_like(logvar), logvar)

    def draw(self, components: Latent, n_samples: int) -> Tensor:
        """``n_samples`` reparametrised draws from every component, noise from :meth:`noise`."""
        if isinstance(components, DiagonalGaussian):
            return self.rsample(components, n_samples)
        noise = self.noise((n_samples, *components.mean.shape), components.mean)
        return components.mean + components.scale * standard_laplace_from_normal(noise)

    def _encode(self, data: Data, mask: Mask | None) -> tuple[Latent, Tensor, dict[str, Tensor], list[str]]:
        """The experts of the modalities in the batch ``(M, batch, latent)``, their presence ``(M, batch)``."""
        present = self.presence(data, mask)
        names = [name for name in self.modality_names if name in data]
        means, logvars, presence = stack_experts(self.encoders, data, present, names)
        return self._family(means, logvars), presence, present, names

    # ------------------------------------------------------------------ the interface
    def posterior(self, data: Data, mask: Mask | None = None) -> MixtureOfExperts:
        """The uniform mixture of the experts of the modalities each sample has (the prior if it has none)."""
        present = self.presence(data, mask)
        means, logvars, presence = stack_experts(self.encoders, data, present, self.modality_names)
        has_any = presence.any(0)
        prior = self.prior(means.shape[1], like=means)
        keep = has_any.reshape(1, -1, 1)
        means = torch.where(keep, means, prior.mean)
        logvars = torch.where(keep, logvars, prior.logvar)
        return MixtureOfExperts(self._family(means, logvars), presence | ~has_any)

    def loss(self, data: Data, mask: Mask | None = None, beta: float = 1.0) -> LossOutput:
        components, presence, present, names = self._encode(data, mask)
        batch = presence.shape[1]
        has_any = presence.any(0)
        # A sample with no modality is computed as if it had all (finite numbers) and dropped at the end.
        valid = presence | ~has_any  # (M, B)
        n_components = valid.sum(0).to(components.mean.dtype)  # (B,)
        n_draws = self.n_importance_samples

        z = self.draw(components, n_draws)  # (K, M, B, L)
        # DReG: q_Φ inside the weights without gradient, so that only the path derivative reaches the encoders.
        density = components.detach() if self.estimator == "dreg" else components
        log_q_each = density.log_prob(z.unsqueeze(2))  # (K, M, M', B): draws of m under component m'
        log_q_each = torch.where(valid, log_q_each, torch.full_like(log_q_each, -math.inf))
        log_q = torch.logsumexp(log_q_each, dim=2) - torch.log(n_components)  # (K, M, B)
        log_prior = self.prior(1, like=z).log_prob(z)  # (K, M, B)

        terms: dict[str, Tensor] = {}
        weighted_log_likelihood = torch.zeros_like(log_q)
        # The draws whose log-likelihood of each modality counts: a present component of a sample that has it.
        counted = valid & has_any  # (M, B)
        counts = (counted & presence.unsqueeze(1)).flatten(1).sum(1).tolist()
        for row, name in enumerate(names):
            log_likelihood = self._component_log_likelihood(name, z, data[name], present[name], counted, counts[row])
            weighted_log_likelihood = weighted_log_likelihood + self.reconstruction_weights[name] * log_likelihood
            nll = -average_over_components(log_likelihood, valid, n_components)
            terms[f"nll/{name}"] = torch.where(has_any, nll, torch.zeros_like(nll)).sum() / batch
        for name in self.modality_names:
            terms.setdefault(f"nll/{name}", z.new_zeros(()))
        kl = average_over_components(log_q - log_prior, valid, n_components)
        terms["kl/mixture"] = torch.where(has_any, kl, torch.zeros_like(kl)).sum() / batch

        log_weights = weighted_log_likelihood + beta * (log_prior - log_q)  # (K, M, B)
        bound = self._bound(log_weights, valid, n_components)
        bound = torch.where(has_any, bound, torch.zeros_like(bound))
        terms["bound"] = bound.sum() / batch
        if self.estimator == "dreg":
            surrogate = self._dreg_surrogate(log_weights, z, valid, n_components)
            surrogate = torch.where(has_any, surrogate, torch.zeros_like(surrogate))
            # The value is the IWAE bound's; the gradient is the surrogate's.
            objective = bound.detach() + (surrogate - surrogate.detach())
        else:
            objective = bound
        return LossOutput(loss=-objective.sum() / batch, terms=terms)

    def _component_log_likelihood(
        self, name: str, z: Tensor, x: Tensor, present: Tensor, counted: Tensor, n_counted: int
    ) -> Tensor:
        """log p(x_name | z) ``(K, M, B)`` for the draws of present components of samples that have the modality,
        zero elsewhere.

        Every other entry is masked out of the bound, the KL and their gradients, so its draws are not decoded
        (with missing data, a third or more of them); a decoder with batch statistics decodes them all.
        """
        n_draws, n_components, batch = z.shape[:3]
        if n_counted == n_components * batch or mixes_samples(self.decoders[name]):
            log_likelihood = self.log_likelihood(name, z, zero_missing(x, present))
            return torch.where(present, log_likelihood, torch.zeros_like(log_likelihood))
        columns = (counted & present).flatten().nonzero().squeeze(-1)  # over (M·B)
        flat_z = z.reshape(n_draws, n_components * batch, -1).index_select(1, columns)
        x_columns = x.index_select(0, columns % batch)
        log_likelihood = self.log_likelihood(name, flat_z, x_columns)  # (K, n_counted)
        full = log_likelihood.new_zeros(n_draws, n_components * batch).index_copy(1, columns, log_likelihood)
        return full.reshape(n_draws, n_components, batch)

    # ------------------------------------------------------------------ the bounds
    def _bound(self, log_weights: Tensor, valid: Tensor, n_components: Tensor) -> Tensor:
        """The per-sample bound of the configured estimator and variant (see the module docstring)."""
        if self.estimator == "elbo":
            return average_over_components(log_weights, valid, n_components)
        n_draws = log_weights.shape[0]
        if self.variant == "stratified":
            # Every sample has a valid component, so the log-sum-exp (and its gradient) stays finite.
            masked = torch.where(valid, log_weights, torch.full_like(log_weights, -math.inf))
            return torch.logsumexp(masked, dim=(0, 1)) - torch.log(n_draws * n_components)
        # Within a component all draws count; an absent component is dropped after its (finite) IWAE.
        per_component = torch.logsumexp(log_weights, dim=0) - math.log(n_draws)  # (M, B)
        return torch.where(valid, per_component, torch.zeros_like(per_component)).sum(0) / n_components

    def _dreg_surrogate(self, log_weights: Tensor, z: Tensor, valid: Tensor, n_components: Tensor) -> Tensor:
        """A per-sample function whose gradient is the DReG estimator of the bound's gradient.

        Its value Σ ŵ log w is not the bound; :meth:`loss` keeps the bound's value. Decoders get Σ ŵ ∇ log w
        (the IWAE gradient); a hook on the draws multiplies the gradient reaching the encoders through each
        draw by its normalised weight once more, which makes the path derivative's weight ŵ².
        """
        log_weights_fixed = log_weights.detach()
        if self.variant == "stratified":
            masked = torch.where(valid, log_weights_fixed, torch.full_like(log_weights_fixed, -math.inf))
            normalised = torch.softmax(masked.flatten(0, 1), dim=0).reshape(masked.shape)
            value_weights = normalised
        else:
            normalised = torch.softmax(log_weights_fixed, dim=0)
            normalised = torch.where(valid, normalised, torch.zeros_like(normalised))
            value_weights = normalised / n_components
        if z.requires_grad:
            path_weights = normalised.unsqueeze(-1)
            z.register_hook(lambda grad: grad * path_weights)
        weighted = torch.where(valid, value_weights * log_weights, torch.zeros_like(log_weights))
        return weighted.sum(dim=(0, 1))
