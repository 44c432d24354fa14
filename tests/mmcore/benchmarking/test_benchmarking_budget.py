"""Budgets: presets, epoch multipliers, caps, and how a grid resolves its epochs from protocol and budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmcore.benchmarking import BUDGETS, PROTOCOLS, Budget, BudgetError, GridConfig, get_protocol, parse_budget
from mmcore.benchmarking.evaluation import EVALUATIONS
from mmcore.benchmarks_setup import BENCHMARKS


def test_presets_scale_the_seed_protocol():
    seed_epochs = get_protocol("mnist-split").epochs
    assert seed_epochs == 200  # Kutuzova et al.'s code trains MNIST-Split for 200 epochs
    assert BUDGETS["paper"].epochs(seed_epochs) == 200 and BUDGETS["paper"].likelihood_samples == 1000
    assert BUDGETS["cpu-session"].epochs(seed_epochs) == 10
    assert BUDGETS["smoke"].epochs(seed_epochs) == 1  # never fewer than one epoch
    assert BUDGETS["cpu-session"].validation_size(10_000) == 5_000
    assert BUDGETS["cpu-session"].validation_size(885) == 885  # a cap, never an increase
    assert BUDGETS["paper"].validation_size(10_000) == 10_000


@pytest.mark.parametrize(("text", "epochs"), [("0.5", 100), ("0.013", 3), ("2", 400), ("1e-6", 1), (" paper ", 200)])
def test_a_number_multiplies_the_epochs(text, epochs):
    budget = parse_budget(text)
    assert budget.epochs(200) == epochs
    assert budget.max_train_size is None or text.strip() in BUDGETS


@pytest.mark.parametrize("text", ["fast", "0", "-1", "nan", "inf", ""])
def test_invalid_budgets_are_refused_with_the_presets_named(text):
    with pytest.raises(BudgetError, match="budget|multiplier"):
        parse_budget(text)


def test_budget_fields_are_validated():
    with pytest.raises(BudgetError, match="max_train_size must be positive"):
        Budget("broken", 1.0, max_train_size=0)
    with pytest.raises(BudgetError, match="at least one epoch"):
        BUDGETS["paper"].epochs(0)


def test_every_benchmark_has_a_protocol_and_an_evaluation():
    assert set(PROTOCOLS) == set(BENCHMARKS) == set(EVALUATIONS)


def test_grid_epochs_come_from_protocol_budget_or_override():
    base = {"benchmark": "mnist-split", "models": ("svae",), "supervision_levels": (1.0,), "output_dir": Path("x")}
    assert GridConfig(**base, budget=parse_budget("0.25")).resolved_epochs == 50
    assert GridConfig(**base, budget=parse_budget("0.25"), epochs=7).resolved_epochs == 7
    with pytest.raises(ValueError, match="supervision levels must lie in"):
        GridConfig(**{**base, "supervision_levels": (1.5,)})
    with pytest.raises(ValueError, match="must not repeat"):
        GridConfig(**{**base, "models": ("svae", "svae")})
