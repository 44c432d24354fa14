"""Every likelihood in mmcore/likelihoods.py scores data exactly as torch.distributions does."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Independent, Laplace, Normal

from mmcore.likelihoods import (
    LIKELIHOODS,
    BernoulliLikelihood,
    CategoricalLikelihood,
    GaussianLikelihood,
    LaplaceLikelihood,
)

DTYPE = torch.float64


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------- Bernoulli
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "grey-level"])
def test_bernoulli_log_prob_matches_torch(binary):
    logits = 3.0 * torch.randn(5, 7, generator=generator(0), dtype=DTYPE)
    x = torch.rand(5, 7, generator=generator(1), dtype=DTYPE)
    if binary:
        x = torch.bernoulli(x, generator=generator(2))
    # validate_args=False: torch scores grey levels with the same cross-entropy formula.
    expected = Independent(Bernoulli(logits=logits, validate_args=False), 1).log_prob(x)
    torch.testing.assert_close(BernoulliLikelihood().log_prob(logits, x), expected)


def test_bernoulli_log_prob_with_leading_sample_axes_and_image_events():
    logits = torch.randn(3, 4, 2, 5, generator=generator(3), dtype=DTYPE)  # (K, batch, height, width)
    x = torch.bernoulli(torch.full((4, 2, 5), 0.5, dtype=DTYPE), generator=generator(4))
    scores = BernoulliLikelihood().log_prob(logits, x)
    assert scores.shape == (3, 4)
    expected = Independent(Bernoulli(logits=logits), 2).log_prob(x.expand_as(logits))
    torch.testing.assert_close(scores, expected)
    likelihood = BernoulliLikelihood()
    torch.testing.assert_close(likelihood.mean(logits), torch.sigmoid(logits))
    assert set(likelihood.sample(logits).unique().tolist()) <= {0.0, 1.0}


# ---------------------------------------------------------------------------------------------- Gaussian, Laplace
@pytest.mark.parametrize("leading_axes", [(), (3,), (2, 3)])
@pytest.mark.parametrize("learn_scale", [False, True])
def test_gaussian_log_prob_matches_torch(leading_axes, learn_scale):
    likelihood = GaussianLikelihood(scale=0.7, learn_scale=learn_scale).to(DTYPE)
    means = torch.randn(*leading_axes, 4, 6, generator=generator(5), dtype=DTYPE)
    x = torch.randn(4, 6, generator=generator(6), dtype=DTYPE)
    scores = likelihood.log_prob(means, x)
    assert scores.shape == (*leading_axes, 4)
    expected = Independent(Normal(means, 0.7), 1).log_prob(x)
    torch.testing.assert_close(scores, expected.detach())


@pytest.mark.parametrize("leading_axes", [(), (3,)])
@pytest.mark.parametrize("learn_scale", [False, True])
def test_laplace_log_prob_matches_torch(leading_axes, learn_scale):
    likelihood = LaplaceLikelihood(scale=0.4, learn_scale=learn_scale).to(DTYPE)
    locations = torch.randn(*leading_axes, 4, 6, generator=generator(7), dtype=DTYPE)
    x = torch.randn(4, 6, generator=generator(8), dtype=DTYPE)
    scores = likelihood.log_prob(locations, x)
    assert scores.shape == (*leading_axes, 4)
    torch.testing.assert_close(scores, Independent(Laplace(locations, 0.4), 1).log_prob(x).detach())


@pytest.mark.parametrize("cls", [GaussianLikelihood, LaplaceLikelihood])
def test_learned_scale_is_a_parameter_and_fixed_scale_is_not(cls):
    learned = cls(scale=0.5, learn_scale=True)
    fixed = cls(scale=0.5)
    assert [name for name, _ in learned.named_parameters()] == ["log_scale"]
    assert list(fixed.parameters()) == []
    assert "log_scale" in dict(fixed.named_buffers())
    assert float(fixed.log_scale) == pytest.approx(torch.log(torch.tensor(0.5)).item())
    # The learned scale receives a gradient from the log-likelihood.
    x = torch.randn(4, 3, generator=generator(9))
    learned.log_prob(torch.zeros(4, 3), x).sum().backward()
    assert learned.log_scale.grad is not None and learned.log_scale.grad.abs() > 0


def test_gaussian_and_laplace_mean_is_the_decoder_output():
    params = torch.randn(3, 2)
    assert torch.equal(GaussianLikelihood().mean(params), params)
    assert torch.equal(LaplaceLikelihood().mean(params), params)


# ---------------------------------------------------------------------------------------------- Categorical
def categorical_reference(logits, tokens, padding_index):
    elementwise = Categorical(logits=logits).log_prob(torch.where(tokens == padding_index, 0, tokens))
    return torch.where(tokens == padding_index, 0.0, elementwise).sum(-1)


@pytest.mark.parametrize("padding_index", [0, -100], ids=["in-vocabulary", "ignore-index"])
@pytest.mark.parametrize("leading_axes", [(), (3,)])
def test_categorical_log_prob_matches_torch_and_ignores_padding(padding_index, leading_axes):
    vocabulary, batch, length = 7, 4, 5
    logits = torch.randn(*leading_axes, batch, length, vocabulary, generator=generator(10), dtype=DTYPE)
    tokens = torch.randint(1, vocabulary, (batch, length), generator=generator(11))
    tokens[0, 3:] = padding_index
    tokens[2, 1:] = padding_index
    likelihood = CategoricalLikelihood(padding_index=padding_index)
    scores = likelihood.log_prob(logits, tokens)
    assert scores.shape == (*leading_axes, batch)
    torch.testing.assert_close(scores, categorical_reference(logits, tokens, padding_index))
    # The padded positions really are ignored: changing their logits changes nothing.
    changed = logits.clone()
    changed[..., 2, 1:, :] = 100.0 * torch.randn_like(changed[..., 2, 1:, :])
    torch.testing.assert_close(likelihood.log_prob(changed, tokens), scores)


def test_categorical_without_padding_scores_every_position():
    logits = torch.randn(2, 3, 4, generator=generator(12), dtype=DTYPE)
    tokens = torch.tensor([[0, 1, 3], [2, 0, 0]])
    expected = Categorical(logits=logits).log_prob(tokens).sum(-1)
    torch.testing.assert_close(CategoricalLikelihood().log_prob(logits, tokens), expected)
    assert torch.equal(CategoricalLikelihood().mean(logits), logits.argmax(-1))


def test_registry_names_every_likelihood():
    assert LIKELIHOODS == {
        "bernoulli": BernoulliLikelihood,
        "gaussian": GaussianLikelihood,
        "laplace": LaplaceLikelihood,
        "categorical": CategoricalLikelihood,
    }
