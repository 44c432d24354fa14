"""Tests of mmcore/metrics/latent_classification.py: separable latents are classified perfectly, noise at chance.

The scripted model's posterior mean is a chosen modality itself, so the test decides what the latents are.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from metric_fakes import ScriptedVAE, first_block, loader_of, weighted_sum_posterior

from mmcore.metrics import NoEvaluableSamplesError, fit_linear_classifier, latent_classification_accuracy

N_CLASSES = 10
LATENT = 6


def clustered(n: int, seed: int, spread: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Points around ten well-separated class centres (fixed across seeds) and their labels."""
    centres = 4.0 * torch.randn(N_CLASSES, LATENT, generator=torch.Generator().manual_seed(100))
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, N_CLASSES, (n,), generator=generator)
    return centres[labels] + spread * torch.randn(n, LATENT, generator=generator), labels


def noise(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, LATENT, generator=torch.Generator().manual_seed(seed))


def test_fitted_classifier_is_a_stationary_point_of_the_penalised_loss():
    features, labels = clustered(500, seed=0, spread=3.0)  # overlapping classes: a non-trivial optimum
    l2 = 1e-2
    classifier = fit_linear_classifier(features, labels, N_CLASSES, l2=l2, max_iter=500)
    weight = classifier.weight.clone().requires_grad_(True)
    bias = classifier.bias.clone().requires_grad_(True)
    standardised = (features.double() - classifier.feature_mean) / classifier.feature_scale
    loss = F.cross_entropy(standardised @ weight + bias, labels) + 0.5 * l2 * (weight**2).sum()
    loss.backward()
    assert float(torch.cat([weight.grad.flatten(), bias.grad]).abs().max()) < 1e-5
    torch.testing.assert_close(classifier.feature_mean, features.double().mean(0))


def test_separable_latents_reach_full_accuracy_and_noise_stays_at_chance():
    train_x, train_y = clustered(2000, seed=1)
    test_x, test_y = clustered(2000, seed=2)
    assert fit_linear_classifier(train_x, train_y).accuracy(test_x, test_y) >= 0.99
    chance = fit_linear_classifier(noise(2000, 3), train_y).accuracy(noise(2000, 4), test_y)
    assert chance == pytest.approx(0.1, abs=0.035)


def test_latent_accuracy_reads_the_posterior_of_the_chosen_subset():
    """Posterior mean = 'signal' (clustered by class) when signal is given, else 'junk' (noise)."""
    model = ScriptedVAE(
        {"signal": first_block, "junk": first_block},
        LATENT,
        weighted_sum_posterior({"signal": 1.0, "junk": 1.0}, LATENT),
    )
    train_x, train_y = clustered(1500, seed=5)
    test_x, test_y = clustered(1500, seed=6)
    train = loader_of({"signal": train_x, "junk": 0.01 * noise(1500, 7)}, train_y, batch_size=256)
    test = loader_of({"signal": test_x, "junk": 0.01 * noise(1500, 8)}, test_y, batch_size=256)

    from_signal = latent_classification_accuracy(model, train, test, ["signal"])
    assert list(from_signal) == ["latent_accuracy/signal"]
    assert from_signal["latent_accuracy/signal"] >= 0.99
    from_junk = latent_classification_accuracy(model, train, test, ["junk"])["latent_accuracy/junk"]
    assert from_junk == pytest.approx(0.1, abs=0.04)
    both = latent_classification_accuracy(model, train, test)
    assert both["latent_accuracy/signal+junk"] >= 0.99


def test_only_samples_with_the_whole_subset_are_used():
    model = ScriptedVAE({"a": first_block, "b": first_block}, LATENT, weighted_sum_posterior({"a": 1.0}, LATENT))
    x, y = clustered(100, seed=9)
    nobody = {"a": torch.zeros(100, dtype=torch.bool), "b": torch.ones(100, dtype=torch.bool)}
    loader = loader_of({"a": x, "b": x}, y, nobody)
    with pytest.raises(NoEvaluableSamplesError, match="'a'"):
        latent_classification_accuracy(model, loader, loader, ["a"])
