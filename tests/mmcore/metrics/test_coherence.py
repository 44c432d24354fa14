"""Tests of mmcore/metrics/coherence.py on scripted models whose generations are chosen in advance.

The modalities are one-hot digit codes, the 'oracle' is an argmax, and each posterior mean is a weighted sum of
the present codes. So a perfect generator must score exactly 1, a constant one exactly the frequency of its
class, and mixtures of right and wrong inputs exactly the fractions worked out in each test.
"""

from __future__ import annotations

import pytest
import torch
from metric_fakes import (
    N_CLASSES,
    ScriptedVAE,
    argmax_of,
    constant_class,
    first_block,
    loader_of,
    one_hot,
    second_block,
    weighted_sum_posterior,
    zeros_decoder,
)

from mmcore.metrics import (
    MissingLabelsError,
    NoEvaluableSamplesError,
    coherence_by_subset_size,
    cross_coherence,
    joint_coherence,
    mnist_split_accuracy,
    synergy,
)

N_SAMPLES = 200  # even: "right for even indices" is then exactly half


def digit_labels(seed: int = 0, n: int = N_SAMPLES) -> torch.Tensor:
    return torch.randint(0, N_CLASSES, (n,), generator=torch.Generator().manual_seed(seed))


def right_on_even(labels: torch.Tensor) -> torch.Tensor:
    """One-hot codes that show the label at even indices and the next class at odd ones."""
    even = torch.arange(len(labels)) % 2 == 0
    return one_hot(torch.where(even, labels, (labels + 1) % N_CLASSES))


def three_modality_model() -> ScriptedVAE:
    return ScriptedVAE(
        {"m0": first_block, "m1": first_block, "m2": first_block},
        N_CLASSES,
        weighted_sum_posterior({"m0": 4.0, "m1": 2.0, "m2": 1.0}, N_CLASSES),
    )


def three_modality_data(labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """m0 always right, m1 right on even indices, m2 always wrong (the next class)."""
    return {"m0": one_hot(labels), "m1": right_on_even(labels), "m2": one_hot((labels + 1) % N_CLASSES)}


# ---------------------------------------------------------------------------------------------- cross coherence
@pytest.mark.parametrize("sample_latent", [True, False])
def test_perfect_generator_has_cross_coherence_one(sample_latent):
    model = ScriptedVAE({"m0": first_block, "m1": first_block}, N_CLASSES, weighted_sum_posterior({"m0": 1.0}, 10))
    labels = digit_labels()
    loader = loader_of({"m0": one_hot(labels), "m1": torch.zeros(N_SAMPLES, N_CLASSES)}, labels)
    result = cross_coherence(model, loader, "m0", "m1", argmax_of("m1"), sample_latent=sample_latent)
    assert result == {"cross_coherence/m0->m1": 1.0}


def test_constant_generator_scores_its_class_frequency():
    model = ScriptedVAE(
        {"m0": first_block, "m1": constant_class(3)}, N_CLASSES, weighted_sum_posterior({"m0": 1.0}, 10)
    )
    labels = digit_labels(seed=1)
    loader = loader_of({"m0": one_hot(labels), "m1": one_hot(labels)}, labels, batch_size=37)
    result = cross_coherence(model, loader, "m0", "m1", argmax_of("m1"))
    assert result["cross_coherence/m0->m1"] == pytest.approx(float((labels == 3).double().mean()), abs=1e-12)


def test_samples_without_the_source_are_left_out():
    """Samples whose source is masked out hold wrong codes; counting them would lower the score below 1."""
    model = ScriptedVAE({"m0": first_block, "m1": first_block}, N_CLASSES, weighted_sum_posterior({"m0": 1.0}, 10))
    labels = digit_labels(seed=2)
    has_source = torch.arange(N_SAMPLES) % 3 != 0
    codes = torch.where(has_source.unsqueeze(-1), one_hot(labels), one_hot((labels + 5) % N_CLASSES))
    dataset_mask = {"m0": has_source, "m1": torch.ones(N_SAMPLES, dtype=torch.bool)}
    loader = loader_of({"m0": codes, "m1": one_hot(labels)}, labels, dataset_mask)
    assert cross_coherence(model, loader, "m0", "m1", argmax_of("m1"))["cross_coherence/m0->m1"] == 1.0


def test_no_evaluable_sample_and_no_labels_are_errors():
    model = ScriptedVAE({"m0": first_block, "m1": first_block}, N_CLASSES, weighted_sum_posterior({"m0": 1.0}, 10))
    labels = digit_labels()
    nobody = {"m0": torch.zeros(N_SAMPLES, dtype=torch.bool), "m1": torch.ones(N_SAMPLES, dtype=torch.bool)}
    data = {"m0": one_hot(labels), "m1": one_hot(labels)}
    with pytest.raises(NoEvaluableSamplesError, match="m0"):
        cross_coherence(model, loader_of(data, labels, nobody), "m0", "m1", argmax_of("m1"))
    with pytest.raises(MissingLabelsError, match="batch 0"):
        cross_coherence(model, loader_of(data, None), "m0", "m1", argmax_of("m1"))
    with pytest.raises(KeyError, match="m7"):
        cross_coherence(model, loader_of(data, labels), "m7", "m1", argmax_of("m1"))


# ---------------------------------------------------------------------------------------------- synergy, subsets
def test_synergy_combines_the_other_modalities():
    """From m0 (weight 4) and m1 (weight 2) together the right class always wins; m1 alone is right half the time."""
    model = three_modality_model()
    labels = digit_labels(seed=3)
    loader = loader_of(three_modality_data(labels), labels)
    assert synergy(model, loader, "m2", argmax_of("m2")) == {"synergy/m2": 1.0}
    assert cross_coherence(model, loader, "m1", "m2", argmax_of("m2")) == {"cross_coherence/m1->m2": 0.5}
    # m1 and m2 (weights 2 and 1): right where m1 is right, wrong where both show the next class.
    assert synergy(model, loader, "m0", argmax_of("m0")) == {"synergy/m0": 0.5}


def test_coherence_by_subset_size_averages_every_subset_and_target():
    """Per (S, target): {m0}: 1, {m1}: 1/2, {m2}: 0 (two targets each); {m0,m1}: 1, {m0,m2}: 1, {m1,m2}: 1/2."""
    model = three_modality_model()
    labels = digit_labels(seed=4)
    loader = loader_of(three_modality_data(labels), labels, batch_size=50)
    classifiers = {name: argmax_of(name) for name in ("m0", "m1", "m2")}
    result = coherence_by_subset_size(model, loader, classifiers)
    assert result == pytest.approx({"coherence/subset_size_1": 0.5, "coherence/subset_size_2": 2.5 / 3}, abs=1e-12)


# ---------------------------------------------------------------------------------------------- joint coherence
def test_joint_coherence_is_one_for_a_shared_code_and_chance_for_independent_codes():
    classifiers = {"m0": argmax_of("m0"), "m1": argmax_of("m1")}
    prior_only = weighted_sum_posterior({}, 2 * N_CLASSES)
    shared = ScriptedVAE({"m0": first_block, "m1": first_block}, 2 * N_CLASSES, prior_only)
    assert joint_coherence(shared, 1000, classifiers, batch_size=300) == {"joint_coherence": 1.0}

    # Independent halves of z: the two argmaxes agree with probability 1/10.
    independent = ScriptedVAE({"m0": first_block, "m1": second_block}, 2 * N_CLASSES, prior_only)
    state = torch.get_rng_state()
    result = joint_coherence(independent, 8000, classifiers, seed=5)
    assert torch.equal(torch.get_rng_state(), state), "a seeded metric must not move the global random state"
    assert result["joint_coherence"] == pytest.approx(0.1, abs=0.015)
    assert joint_coherence(independent, 8000, classifiers, seed=5) == result


# ---------------------------------------------------------------------------------------------- MNIST-Split numbers
def test_mnist_split_accuracy_reports_both_halves_and_each_half_alone():
    """top (weight 2) is always right, bottom (weight 1) on even indices; the classifier judges top + bottom."""
    model = ScriptedVAE(
        {"top": first_block, "bottom": first_block}, N_CLASSES, weighted_sum_posterior({"top": 2.0, "bottom": 1.0}, 10)
    )
    labels = digit_labels(seed=6)
    loader = loader_of({"top": one_hot(labels), "bottom": right_on_even(labels)}, labels, batch_size=64)

    def whole_digit(data):
        return (data["top"] + data["bottom"]).argmax(-1)

    result = mnist_split_accuracy(model, loader, whole_digit)
    assert list(result) == ["accuracy/from_top+bottom", "accuracy/from_top", "accuracy/from_bottom"]
    assert result == {"accuracy/from_top+bottom": 1.0, "accuracy/from_top": 1.0, "accuracy/from_bottom": 0.5}


def test_mnist_split_accuracy_decodes_the_given_half_unless_asked_to_keep_it():
    """A decoder of zeros: decoded halves say class 0; with keep_observed the given half is the real one."""
    model = ScriptedVAE(
        {"top": zeros_decoder, "bottom": zeros_decoder}, N_CLASSES, weighted_sum_posterior({"top": 1.0}, 10)
    )
    labels = digit_labels(seed=7)
    loader = loader_of({"top": one_hot(labels), "bottom": one_hot(labels)}, labels)

    def whole_digit(data):
        return (data["top"] + data["bottom"]).argmax(-1)

    frequency_of_zero = float((labels == 0).double().mean())
    decoded = mnist_split_accuracy(model, loader, whole_digit, source_subsets=[["top"]])
    assert decoded == pytest.approx({"accuracy/from_top": frequency_of_zero}, abs=1e-12)
    kept = mnist_split_accuracy(model, loader, whole_digit, source_subsets=[["top"]], keep_observed=True)
    assert kept == {"accuracy/from_top": 1.0}


def test_model_is_left_in_training_mode():
    model = ScriptedVAE({"m0": first_block, "m1": first_block}, N_CLASSES, weighted_sum_posterior({"m0": 1.0}, 10))
    labels = digit_labels()
    model.train()
    cross_coherence(
        model, loader_of({"m0": one_hot(labels), "m1": one_hot(labels)}, labels), "m0", "m1", argmax_of("m1")
    )
    assert model.training
