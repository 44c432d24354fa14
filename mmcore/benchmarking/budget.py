"""Compute budgets: how much of a benchmark's published protocol a grid run can afford.

The seed papers train for hundreds of epochs on GPUs; a laptop or a shared CPU cannot. A :class:`Budget`
scales the protocol's epochs and caps the number of training and test samples, and says which costly
metrics to compute, so that ``mmcore benchmark ... --budget cpu-session`` fits the hardware at hand while
the *same* models, data and metrics are used. Results of different budgets are not comparable with each
other or with the papers; every run records the budget it was trained under.

Named presets (:data:`BUDGETS`):

* ``smoke``: one epoch on 2,000 samples, validated on 500 and evaluated on 1,000: checks that a grid runs
  end to end;
* ``cpu-session``: 1/20 of the epochs (10 of the seed's 200) on 20,000 samples, validated on 5,000, the
  full test set: a grid of a dozen small (MLP) runs in about half an hour on one shared CPU core;
* ``paper``: the protocol as published, with the test log-likelihood (K = 1,000 importance samples).

A plain number (``--budget 0.1``) multiplies the protocol's epochs and keeps all data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class BudgetError(ValueError):
    """A budget is neither a preset name nor a positive number."""


@dataclass(frozen=True)
class Budget:
    """How far a grid follows a benchmark's protocol.

    ``epoch_scale`` multiplies the protocol's epochs (at least one epoch is always trained);
    ``max_train_size`` / ``max_validation_size`` / ``max_test_size`` cap the training, validation and test
    samples (None: all, respectively the benchmark's validation size);
    ``likelihood_samples`` is K of the IWAE test log-likelihood (None: not computed, it costs K decoder
    passes per test sample); ``latent_classification`` says whether linear probes on the posterior means
    are fitted.
    """

    name: str
    epoch_scale: float
    max_train_size: int | None = None
    max_validation_size: int | None = None
    max_test_size: int | None = None
    likelihood_samples: int | None = None
    latent_classification: bool = True

    def __post_init__(self) -> None:
        if not self.epoch_scale > 0 or not math.isfinite(self.epoch_scale):
            raise BudgetError(f"budget {self.name!r}: epoch_scale must be a positive number, got {self.epoch_scale}")
        limits = {
            "max_train_size": self.max_train_size,
            "max_validation_size": self.max_validation_size,
            "max_test_size": self.max_test_size,
            "likelihood_samples": self.likelihood_samples,
        }
        for label, value in limits.items():
            if value is not None and value <= 0:
                raise BudgetError(f"budget {self.name!r}: {label} must be positive or None, got {value}")

    def epochs(self, protocol_epochs: int) -> int:
        """The protocol's epochs scaled by ``epoch_scale``, rounded, and at least 1."""
        if protocol_epochs <= 0:
            raise BudgetError(f"a protocol must train at least one epoch, got {protocol_epochs}")
        return max(1, round(protocol_epochs * self.epoch_scale))

    def validation_size(self, benchmark_default: int) -> int:
        """The benchmark's validation size, capped by ``max_validation_size``."""
        if self.max_validation_size is None:
            return benchmark_default
        return min(benchmark_default, self.max_validation_size)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "epoch_scale": self.epoch_scale,
            "max_train_size": self.max_train_size,
            "max_validation_size": self.max_validation_size,
            "max_test_size": self.max_test_size,
            "likelihood_samples": self.likelihood_samples,
            "latent_classification": self.latent_classification,
        }


BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        "smoke",
        epoch_scale=1e-9,
        max_train_size=2_000,
        max_validation_size=500,
        max_test_size=1_000,
        latent_classification=False,
    ),
    "cpu-session": Budget("cpu-session", epoch_scale=1 / 20, max_train_size=20_000, max_validation_size=5_000),
    "paper": Budget("paper", epoch_scale=1.0, likelihood_samples=1_000),
}
"""The named presets; see the module docstring."""


def parse_budget(text: str) -> Budget:
    """A preset by name (``"smoke"``, ``"cpu-session"``, ``"paper"``) or an epoch multiplier (``"0.25"``).

    >>> parse_budget("0.5").epochs(200)
    100
    """
    text = text.strip()
    if text in BUDGETS:
        return BUDGETS[text]
    try:
        scale = float(text)
    except ValueError:
        raise BudgetError(
            f"unknown budget {text!r}: give a preset ({', '.join(BUDGETS)}) or a positive epoch multiplier such as 0.1"
        ) from None
    if not scale > 0 or not math.isfinite(scale):
        raise BudgetError(f"an epoch multiplier must be a positive number, got {text!r}")
    return Budget(f"x{scale:g}", epoch_scale=scale)
