"""TrainerConfig validation and the β warm-up schedule."""

from __future__ import annotations

import pytest

from mmcore.training.config import TrainerConfig
from mmcore.training.schedule import warmup_beta


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("epochs", -1, "epochs"),
        ("seed", -1, "seed"),
        ("batch_size", 0, "batch_size"),
        ("learning_rate", 0.0, "learning_rate"),
        ("beta", -0.1, "beta"),
        ("beta_warmup_epochs", -1, "beta_warmup_epochs"),
        ("validation_mode", "lowest", "validation_mode"),
        ("device", "tpu", "device"),
        ("max_grad_norm", 0.0, "max_grad_norm"),
        ("reconstruction_weights", {"top": -1.0}, "top"),
    ],
)
def test_invalid_settings_are_rejected(setting, value, message):
    with pytest.raises(ValueError, match=message):
        TrainerConfig(**{setting: value})


def test_config_round_trips_through_a_dict(tmp_path):
    config = TrainerConfig(epochs=4, beta=0.5, reconstruction_weights={"a": 2.0}, checkpoint_dir="x")
    assert TrainerConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown trainer settings \\['epoch'\\]"):
        TrainerConfig.from_dict({"epoch": 3})


def test_is_better_respects_the_mode():
    low, high = TrainerConfig(validation_mode="min"), TrainerConfig(validation_mode="max")
    assert low.is_better(1.0, 2.0) and not low.is_better(2.0, 1.0) and not low.is_better(1.0, 1.0)
    assert high.is_better(2.0, 1.0) and not high.is_better(1.0, 2.0)
    assert low.is_better(7.0, None) and not low.is_better(float("nan"), None)


@pytest.mark.parametrize(
    ("warmup", "progress", "expected"),
    [(0.0, 0.0, 3.0), (4.0, 0.0, 0.0), (4.0, 1.0, 0.75), (4.0, 2.5, 1.875), (4.0, 4.0, 3.0), (4.0, 9.0, 3.0)],
)
def test_warmup_is_linear_then_constant(warmup, progress, expected):
    assert warmup_beta(3.0, warmup, progress) == pytest.approx(expected)
