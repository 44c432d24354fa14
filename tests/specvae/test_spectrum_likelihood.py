"""The coarse-grid spectrum likelihood: its value by hand, and a model built and trained with it."""

from __future__ import annotations

import math

import pytest
import torch

from specvae.architecture import FINGERPRINT, SPECTRUM, ArchitectureConfig, build_spectrum_fingerprint_model
from specvae.spectrum_likelihood import PooledBernoulliLikelihood


def test_log_prob_is_the_bernoulli_of_each_groups_largest_intensity() -> None:
    likelihood = PooledBernoulliLikelihood(pool=3)
    x = torch.tensor([[0.0, 0.4, 0.1, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.2, 0.0]])
    logits = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    by_hand = []
    for row_logits, targets in zip(logits.tolist(), [[0.4, 0.0], [1.0, 0.2]], strict=True):
        total = 0.0
        for logit, target in zip(row_logits, targets, strict=True):
            p = 1 / (1 + math.exp(-logit))
            total += target * math.log(p) + (1 - target) * math.log(1 - p)
        by_hand.append(total)
    assert likelihood.log_prob(logits, x).tolist() == pytest.approx(by_hand, rel=1e-6)
    # Leading sample axes (K draws per sample) broadcast against the data.
    assert likelihood.log_prob(logits.expand(4, 2, 2), x).shape == (4, 2)
    with pytest.raises(ValueError, match="whole number of groups"):
        likelihood.log_prob(torch.zeros(1, 2), torch.zeros(1, 7))
    with pytest.raises(ValueError, match="pool"):
        PooledBernoulliLikelihood(pool=0)


def test_a_pooled_model_decodes_the_coarse_grid_and_trains() -> None:
    torch.manual_seed(0)
    config = ArchitectureConfig(
        n_bins=40, n_fingerprint_bits=6, latent_dim=3, hidden_dim=8, spectrum_reconstruction_pool=10
    )
    model = build_spectrum_fingerprint_model(config)
    assert model.decoders[SPECTRUM].out_dim == 4
    spectra = (torch.rand(16, 40) > 0.8).float() * torch.rand(16, 40)
    bits = (torch.rand(16, 6) > 0.5).float()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        output = model.loss({SPECTRUM: spectra, FINGERPRINT: bits})
        optimiser.zero_grad()
        output.loss.backward()
        optimiser.step()
        losses.append(float(output.loss))
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="spectrum_reconstruction_pool"):
        ArchitectureConfig(n_bins=40, n_fingerprint_bits=6, spectrum_reconstruction_pool=7)
