"""MEME: multimodal VAEs learnt through mutual supervision.

Joy, Shi, Torr, Rainforth, Schmon & Siddharth (2022), "Learning Multimodal VAEs through Mutual Supervision"
(ICLR). The two-modality objective below is the one the paper builds on (the semi-supervised bound of
Joy et al. 2021, "Capturing label characteristics in VAEs"), re-derived here and checked against the authors'
code (thwjoy/meme).

Every modality has one encoder q_i(z | x_i) and one decoder p_i(x_i | z). Nothing is fused: each encoder
serves as the posterior of its own modality and as the *conditional prior* of the others.

Paired samples. For a direction x → y (x = x_i encoded, y = x_j supervising), the bound on log p(x | y)

    L(x | y) = E_{q(z|x)} [ (p(y|z) / q(y|x)) · log( p(x|z) q_y(z|y) / (p(y|z) q(z|x)) ) ] + log q(y|x),
    q(y | x) = E_{q(z|x)} [ p(y | z) ],

is the ELBO of log ∫ p(x|z) q_y(z|y) dz with the variational posterior q(z|x, y) ∝ p(y|z) q(z|x); the
decoder of y plays the paper's "classifier" q(y|z). A paired sample's objective is the bidirectional
average L_Bi = ½ [L(x | y) + L(y | x)]. (The authors' code sums the two directions instead, which
weights paired samples twice as much against unpaired ones.) Estimation, as in the authors' code:
K draws z_k ~ q(z|x) for the expectation, the ratio p(y|z_k)/q(y|x) taken as a constant (stop-gradient),
and log q(y|x) estimated by log-mean-exp of p(y|z) over those K draws and ``n_marginal_samples`` more.
The authors replace log q_y(z|y) − log q(z|x) by the analytic −KL; here the pointwise log-ratio of the
bound itself is used. Weights: every log p(x_i | z) is scaled by λ_i (the reconstruction weight, also
inside the ratio and q(y|x)), the log-density ratio by β, and log q(y|x) by ``supervision_weight`` α
(1 gives the bound; the authors' code uses 10).

Unpaired samples (one modality x): an ordinary VAE whose prior is a mixture over learnable pseudo-samples
u_n of the *other* modality passed through that modality's encoder (a VampPrior built from the conditional
prior),

    E_{q(z|x)} [ λ log p(x | z) + β (log r(z) − log q(z | x)) ],   r(z) = 1/N Σ_n q_y(z | u_n).

The pseudo-samples are parameters of the model (``pseudo_samples[name]``, shape ``(N, *input_shape)``);
:meth:`MEME.initialise_pseudo_samples` copies real data into them, as the authors do.

More than two modalities (Appendix E, eq. 11 of meme_mutual_supervision.txt): the implicit regularisation R_i
(the bound above) with an explicit combination R_e of the *other* modalities as the conditional prior,

    1/3 [R_i(m1, R_e(m2, m3)) + R_i(m2, R_e(m1, m3)) + R_i(m3, R_e(m1, m2))].

For a sample with the modalities S (|S| ≥ 2), each i ∈ S takes one direction x = x_i, y = Y = S ∖ {i}:
p(Y | z) = ∏_{j∈Y} p(x_j | z) (λ-weighted: Σ_j λ_j log p(x_j | z)), q(Y | x) = E_{q(z|x_i)} [p(Y | z)], and the
conditional prior q_Y(z | Y) is R_e of the encoders of Y — ``conditional_prior="mixture"`` (default)
1/|Y| Σ_{j∈Y} q_j(z | x_j), or ``"product"`` ∝ ∏_{j∈Y} q_j(z | x_j) (the paper allows either and picks
neither). The sample's objective is the mean over its |S| directions; with |S| = 2 (and so with two
modalities) this is L_Bi exactly, both combinations then being the one encoder. A sample with one modality i
uses the pseudo-samples of every other modality, r_i(z) = 1/((n − 1) N) Σ_{j ≠ i} Σ_n q_j(z | u_{j,n}) (the
paper's eq. 4 names one other modality; the mixture over all others is this module's extension). A sample
with no modality contributes zero.

Consequence for partially observed batches: the encoder and pseudo-samples of a modality missing from the
whole batch still receive gradient through the pseudo-sample prior of the unpaired samples (that is the
method); its decoder receives none, and its placeholder data never influence anything.

Posterior (:meth:`MEME.posterior`): MEME defines no fused posterior; we return the uniform mixture of the
encoders of the modalities a sample has, which is that modality's encoder when it has one. Joint
generation draws z from the pseudo-sample mixture of all modalities.

Efficiency: each encoder runs once per step on the batch and its pseudo-samples concatenated; each
decoder runs once on every draw it scores (its own K reconstruction draws and all draws of the other
encoders), in one batched call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from mmcore.distributions import DiagonalGaussian, MixtureOfExperts, product_of_experts
from mmcore.modality import Modality
from mmcore.models.base import Data, LossOutput, Mask, MultimodalVAE
from mmcore.models.registry import register
from mmcore.models.subsets import stack_experts, zero_missing


def infer_input_shape(encoder: nn.Module, name: str) -> tuple[int, ...]:
    """The input shape of an encoder whose first layer is an ``nn.Linear``: ``(in_features,)``.

    Why: a pseudo-sample must have the shape of a data point, which a :class:`Modality` does not state; for
    MLP encoders it can be read off the first layer. Other encoders need ``pseudo_sample_shapes``.
    """
    for module in encoder.modules():
        if isinstance(module, nn.Linear):
            return (module.in_features,)
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding)):
            break
    raise ValueError(
        f"MEME cannot infer the input shape of modality {name!r} from its encoder ({type(encoder).__name__}); "
        f"pass pseudo_sample_shapes={{{name!r}: shape of one data point}}"
    )


@register
class MEME(MultimodalVAE):
    """Mutual supervision: each encoder is the conditional prior of the others; pseudo-sample priors if unpaired."""

    name = "meme"
    description = "Mutual supervision: encoders act as each other's conditional priors; pseudo-sample priors (MEME)"

    def __init__(
        self,
        modalities: Sequence[Modality],
        latent_dim: int,
        *,
        n_samples: int = 1,
        n_marginal_samples: int = 10,
        n_pseudo_samples: int = 64,
        pseudo_sample_shapes: Mapping[str, Sequence[int]] | None = None,
        supervision_weight: float = 1.0,
        detach_conditional_prior: bool = False,
        conditional_prior: str = "mixture",
    ) -> None:
        """``n_samples`` draws estimate each expectation; ``n_marginal_samples`` more draws (and those) estimate
        q(y|x). With ``detach_conditional_prior`` the conditional prior q_y(z|y) of a direction x → y gets no
        gradient from that direction (its encoder then learns only as a posterior and as pseudo-sample prior).
        ``conditional_prior`` combines the other modalities' encoders with three or more modalities (App. E,
        eq. 11): ``"mixture"`` or ``"product"``.
        """
        super().__init__(modalities, latent_dim)
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        if n_marginal_samples < 0:
            raise ValueError(f"n_marginal_samples must be >= 0, got {n_marginal_samples}")
        if n_pseudo_samples < 1:
            raise ValueError(f"n_pseudo_samples must be >= 1, got {n_pseudo_samples}")
        if supervision_weight < 0:
            raise ValueError(f"supervision_weight must be >= 0, got {supervision_weight}")
        if conditional_prior not in ("mixture", "product"):
            raise ValueError(f"conditional_prior must be 'mixture' or 'product', got {conditional_prior!r}")
        self.conditional_prior = conditional_prior
        self.n_samples = n_samples
        self.n_marginal_samples = n_marginal_samples
        self.supervision_weight = supervision_weight
        self.detach_conditional_prior = detach_conditional_prior
        self.encoders = nn.ModuleDict({name: self.make_expert(name) for name in self.modality_names})
        shapes = dict(pseudo_sample_shapes or {})
        unknown = set(shapes) - set(self.modality_names)
        if unknown:
            raise KeyError(f"pseudo_sample_shapes names unknown modalities {sorted(unknown)}")
        self.pseudo_samples = nn.ParameterDict()
        for name in self.modality_names:
            shape = tuple(shapes[name]) if name in shapes else infer_input_shape(self.encoders[name].body, name)
            # Standard normal until initialise_pseudo_samples copies real data in (the data's scale is unknown here).
            self.pseudo_samples[name] = nn.Parameter(torch.randn(n_pseudo_samples, *shape))

    # ------------------------------------------------------------------ pseudo-samples
    @torch.no_grad()
    def initialise_pseudo_samples(self, data: Data, mask: Mask | None = None) -> None:
        """Copy real data points into the pseudo-samples (the authors start from a batch of training data).

        Each modality takes its first present samples, as many as fit; pseudo-samples beyond those keep
        their values.
        """
        present = self.presence(data, mask)
        for name, values in data.items():
            rows = values[present[name]]
            count = min(rows.shape[0], self.pseudo_samples[name].shape[0])
            self.pseudo_samples[name][:count] = rows[:count].to(self.pseudo_samples[name].dtype)

    def pseudo_sample_components(self) -> DiagonalGaussian:
        """q_j(z | u_{j,n}) for every modality j and pseudo-sample n: ``(n_modalities, N, latent)``."""
        encoded = [self.encoders[name](self.pseudo_samples[name]) for name in self.modality_names]
        return DiagonalGaussian(torch.stack([e.mean for e in encoded]), torch.stack([e.logvar for e in encoded]))

    def _encode(self, data: Data, present: Mapping[str, Tensor]) -> tuple[DiagonalGaussian, DiagonalGaussian]:
        """Posteriors of the modalities in the batch ``(M, B, L)`` and pseudo-sample components ``(n, N, L)``.

        Each encoder runs once, on its batch and its pseudo-samples concatenated.
        """
        batch = self.batch_size(data)
        means, logvars, pseudo_means, pseudo_logvars = [], [], [], []
        for name in self.modality_names:
            pseudo = self.pseudo_samples[name]
            if name not in data:
                encoded = self.encoders[name](pseudo)
                pseudo_means.append(encoded.mean)
                pseudo_logvars.append(encoded.logvar)
                continue
            x = data[name]
            if not x.is_floating_point():
                raise TypeError(
                    f"MEME's pseudo-samples are continuous inputs to the encoder; modality {name!r} holds "
                    f"{x.dtype} data, which its encoder cannot take as a learnable pseudo-input"
                )
            inputs = torch.cat([zero_missing(x, present[name]), pseudo.to(x.dtype)], dim=0)
            encoded = self.encoders[name](inputs)
            means.append(encoded.mean[:batch])
            logvars.append(encoded.logvar[:batch])
            pseudo_means.append(encoded.mean[batch:])
            pseudo_logvars.append(encoded.logvar[batch:])
        posteriors = DiagonalGaussian(torch.stack(means), torch.stack(logvars))
        pseudo = DiagonalGaussian(torch.stack(pseudo_means), torch.stack(pseudo_logvars))
        return posteriors, pseudo

    # ------------------------------------------------------------------ the interface
    def posterior(self, data: Data, mask: Mask | None = None) -> MixtureOfExperts:
        """The uniform mixture of the encoders of the modalities each sample has (N(0, I) if none)."""
        present = self.presence(data, mask)
        means, logvars, presence = stack_experts(self.encoders, data, present, self.modality_names)
        has_any = presence.any(0).reshape(1, -1, 1)
        means = torch.where(has_any, means, torch.zeros_like(means))
        logvars = torch.where(has_any, logvars, torch.zeros_like(logvars))
        return MixtureOfExperts(DiagonalGaussian(means, logvars), presence | ~presence.any(0))

    def prior(self, n_samples: int, like: Tensor | None = None) -> DiagonalGaussian:
        """One pseudo-sample component per sample, drawn uniformly over all modalities' pseudo-samples.

        Sampling from the result samples the pseudo-sample mixture, MEME's unconditional prior.
        """
        components = self.pseudo_sample_components()
        mean = components.mean.reshape(-1, self.latent_dim)
        logvar = components.logvar.reshape(-1, self.latent_dim)
        chosen = torch.randint(mean.shape[0], (n_samples,), device=mean.device)
        return DiagonalGaussian(mean[chosen], logvar[chosen])

    def loss(self, data: Data, mask: Mask | None = None, beta: float = 1.0) -> LossOutput:
        present = self.presence(data, mask)
        batch = self.batch_size(data)
        names = [name for name in self.modality_names if name in data]
        posteriors, pseudo = self._encode(data, present)
        presence = torch.stack([present[name] for name in names])  # (M, B)
        n_present = presence.sum(0)  # (B,)
        n_data, n_draws = len(names), self.n_samples

        z = self.rsample(posteriors, n_draws + self.n_marginal_samples)  # (S, M, B, L)
        z_fit = z[:n_draws]  # the draws of the expectations; all S draws estimate q(y | x)
        own, cross = self._log_likelihoods(data, present, names, z)  # (K, M, B), (S, M_from, M_to, B)
        weights = torch.tensor([self.reconstruction_weights[name] for name in names], dtype=z.dtype, device=z.device)
        own_weighted = own * weights.unsqueeze(-1)
        cross_weighted = cross * weights.unsqueeze(-1)

        log_posterior = posteriors.log_prob(z_fit)  # (K, M, B)
        conditional_prior = posteriors.detach() if self.detach_conditional_prior else posteriors
        log_conditional_prior = conditional_prior.log_prob(z_fit.unsqueeze(2))  # (K, M_from, M_to, B)

        # Paired (eq. 11): for each present x_i, y = the sample's other modalities Y; the mean over the directions.
        off_diagonal = ~torch.eye(n_data, dtype=torch.bool, device=z.device).unsqueeze(-1)
        pair_present = presence.unsqueeze(1) & presence.unsqueeze(0) & off_diagonal  # (M_from, M_to, B)
        cross_y = torch.where(pair_present, cross_weighted, torch.zeros_like(cross_weighted)).sum(2)  # (S, M_from, B)
        log_marginal = torch.logsumexp(cross_y, dim=0) - math.log(z.shape[0])  # log q(Y | x_i): (M_from, B)
        ratio = torch.exp(cross_y[:n_draws] - log_marginal).detach()  # (K, M_from, B)
        log_prior_y = self._log_conditional_prior(z_fit, conditional_prior, log_conditional_prior, pair_present)
        inner = own_weighted - cross_y[:n_draws] + beta * (log_prior_y - log_posterior)
        directional = (ratio * inner).mean(0) + self.supervision_weight * log_marginal  # (M_from, B)
        n_directions = n_present.clamp_min(1).to(z.dtype)
        paired = torch.where(presence, directional, torch.zeros_like(directional)).sum(0) / n_directions

        # Unpaired: a VAE of the one modality with the pseudo-sample prior of the other modalities.
        log_pseudo_prior = self._log_pseudo_prior(z_fit, pseudo, names)  # (K, M, B)
        unimodal = (own_weighted + beta * (log_pseudo_prior - log_posterior)).mean(0)  # (M, B)
        unpaired = torch.where(presence, unimodal, torch.zeros_like(unimodal)).sum(0)

        objective = torch.where(n_present >= 2, paired, torch.where(n_present == 1, unpaired, torch.zeros_like(paired)))
        terms = self._terms(
            names,
            presence,
            n_present,
            pair_present,
            own,
            cross,
            log_posterior,
            log_prior_y,
            log_pseudo_prior,
            batch,
        )
        terms["bound"] = objective.sum() / batch
        return LossOutput(loss=-objective.sum() / batch, terms=terms)

    # ------------------------------------------------------------------ pieces of the loss
    def _log_likelihoods(
        self, data: Data, present: Mapping[str, Tensor], names: list[str], z: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Unweighted log p(x_j | z) of each modality j under its own K draws and all draws of the others.

        Returns ``own`` ``(K, M, B)`` and ``cross`` ``(S, M_from, M_to, B)`` (zero on the diagonal and where
        x_j is missing). Each decoder runs once, on the draws it scores concatenated.
        """
        n_draws, n_data = self.n_samples, len(names)
        batch, latent = z.shape[2], z.shape[3]
        own, cross_columns = [], []
        for target, name in enumerate(names):
            sources = [source for source in range(n_data) if source != target]
            inputs = torch.cat([z[:n_draws, target], z[:, sources].reshape(-1, batch, latent)], dim=0)
            log_likelihood = self.log_likelihood(name, inputs, zero_missing(data[name], present[name]))
            log_likelihood = torch.where(present[name], log_likelihood, torch.zeros_like(log_likelihood))
            own.append(log_likelihood[:n_draws])
            from_sources = log_likelihood[n_draws:].reshape(z.shape[0], len(sources), batch)
            column = [torch.zeros_like(log_likelihood[0]).expand(z.shape[0], batch)] * n_data
            for position, source in enumerate(sources):
                column[source] = from_sources[:, position]
            cross_columns.append(torch.stack(column, dim=1))  # (S, M_from, B)
        return torch.stack(own, dim=1), torch.stack(cross_columns, dim=2)

    def _log_conditional_prior(
        self,
        z: Tensor,
        encoders: DiagonalGaussian,
        log_conditional_prior: Tensor,
        pair_present: Tensor,
    ) -> Tensor:
        """log q_Y(z | Y) at draws ``z`` ``(K, M_from, B, L)`` of each x_i, Y the sample's other modalities.

        ``log_conditional_prior`` ``(K, M_from, M_to, B)`` holds log q_j(z | x_j) at the draws of x_i. Mixture:
        log-mean-exp over j ∈ Y; product: the normalised product of the encoders of Y. Zero where Y is empty.
        """
        has_other = pair_present.any(1)  # (M_from, B)
        if self.conditional_prior == "mixture":
            # A finite fill, not −inf: a row without any j would give NaN gradients through logsumexp.
            fill = torch.full_like(log_conditional_prior, torch.finfo(log_conditional_prior.dtype).min / 4)
            masked = torch.where(pair_present, log_conditional_prior, fill)
            n_others = pair_present.sum(1).clamp_min(1).to(z.dtype)
            log_prior_y = torch.logsumexp(masked, dim=2) - torch.log(n_others)
        else:
            n_data = pair_present.shape[0]
            # Expert axis first: (M_to, M_from, B, L), the experts of Y for each direction.
            means = encoders.mean.unsqueeze(1).expand(-1, n_data, -1, -1)
            logvars = encoders.logvar.unsqueeze(1).expand(-1, n_data, -1, -1)
            product = product_of_experts(means, logvars, pair_present.transpose(0, 1))
            log_prior_y = product.log_prob(z)
        return torch.where(has_other, log_prior_y, torch.zeros_like(log_prior_y))

    def _log_pseudo_prior(self, z: Tensor, pseudo: DiagonalGaussian, names: list[str]) -> Tensor:
        """log r_i(z) for draws of each modality i in the batch: the pseudo-samples of every other modality."""
        component_log_probs = pseudo.log_prob(z.unsqueeze(-2).unsqueeze(-2))  # (K, M, B, n, N)
        others = torch.tensor(
            [[name != other for other in self.modality_names] for name in names], dtype=torch.bool, device=z.device
        )  # (M, n)
        mask = others.reshape(1, len(names), 1, -1, 1)
        masked = torch.where(mask, component_log_probs, torch.full_like(component_log_probs, -math.inf))
        n_components = (len(self.modality_names) - 1) * pseudo.mean.shape[1]
        return torch.logsumexp(masked.flatten(-2), dim=-1) - math.log(n_components)

    def _terms(
        self,
        names: list[str],
        presence: Tensor,
        n_present: Tensor,
        pair_present: Tensor,
        own: Tensor,
        cross: Tensor,
        log_posterior: Tensor,
        log_prior_y: Tensor,
        log_pseudo_prior: Tensor,
        batch: int,
    ) -> dict[str, Tensor]:
        """Unweighted, batch-averaged parts for logging (no gradient)."""
        with torch.no_grad():
            terms: dict[str, Tensor] = {}
            zero = own.new_zeros(())
            nll = -own.mean(0)  # (M, B)
            for row, name in enumerate(names):
                terms[f"nll/{name}"] = torch.where(presence[row], nll[row], torch.zeros_like(nll[row])).sum() / batch
                # −log q(x_j | x_i) averaged over the sources i the sample has: how well the others predict x_j.
                cross_nll = -(torch.logsumexp(cross[:, :, row], dim=0) - math.log(cross.shape[0]))  # (M_from, B)
                counted = pair_present[:, row]
                n_sources = counted.sum(0).clamp_min(1)
                per_sample = torch.where(counted, cross_nll, torch.zeros_like(cross_nll)).sum(0) / n_sources
                terms[f"cross_nll/{name}"] = per_sample.sum() / batch
            for name in self.modality_names:
                terms.setdefault(f"nll/{name}", zero)
                terms.setdefault(f"cross_nll/{name}", zero)
            conditional_kl = (log_posterior - log_prior_y).mean(0)  # (M_from, B)
            conditional_kl = torch.where(presence, conditional_kl, torch.zeros_like(conditional_kl)).sum(0)
            per_direction = conditional_kl / n_present.clamp_min(1)
            terms["kl/conditional_prior"] = (torch.where(n_present >= 2, per_direction, zero)).sum() / batch
            pseudo_kl = torch.where(presence, (log_posterior - log_pseudo_prior).mean(0), zero).sum(0)
            terms["kl/pseudo_prior"] = torch.where(n_present == 1, pseudo_kl, zero).sum() / batch
        return terms
