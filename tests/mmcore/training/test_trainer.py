"""The Trainer: resumption reproduces an uninterrupted run, the KL warm-up, best-epoch choice, logs."""

from __future__ import annotations

import csv
import io
import json
import math
import sys

import pytest
import safetensors.torch
import torch
from toy_vae import correlated_data, toy_model

from mmcore.data.dataset import MultimodalDataset
from mmcore.data.loader import MultimodalLoader
from mmcore.training import checkpoint as checkpoints
from mmcore.training.config import TrainerConfig
from mmcore.training.epoch_log import CSV_FILE, JSON_FILE, read_epoch_log
from mmcore.training.trainer import Trainer
from mmcore.training.validation import validation_loss


def _datasets(n_train: int = 40, n_validation: int = 12):
    train = MultimodalDataset(correlated_data(n_train, seed=1))
    validation = MultimodalDataset(correlated_data(n_validation, seed=2))
    return train, validation


def _zero_noise(shape, like):
    return torch.zeros(shape, dtype=like.dtype, device=like.device)


def _config(tmp_path, **overrides) -> TrainerConfig:
    values = dict(epochs=3, batch_size=8, learning_rate=1e-2, seed=3, progress=False, restore_best=False)
    if tmp_path is not None:
        values.update(checkpoint_dir=str(tmp_path / "checkpoints"), log_dir=str(tmp_path / "logs"))
    values.update(overrides)
    return TrainerConfig(**values)


def _history_without_time(history):
    return [{key: value for key, value in record.items() if key != "seconds"} for record in history]


def test_resume_reaches_the_same_parameters_as_an_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    train, validation = _datasets()

    straight_model = toy_model(seed=0)
    straight = Trainer(straight_model, _config(tmp_path / "straight", epochs=3)).fit(train, validation)

    interrupted_model = toy_model(seed=0)
    Trainer(interrupted_model, _config(tmp_path / "resumed", epochs=2)).fit(train, validation)
    # A new process: new model object, new trainer, and a disturbed global random state.
    resumed_model = toy_model(seed=99)
    torch.manual_seed(12345)
    resumed_trainer = Trainer(resumed_model, _config(tmp_path / "resumed", epochs=3))
    resumed = resumed_trainer.fit(train, validation, resume=True)

    straight_state, resumed_state = straight_model.state_dict(), resumed_model.state_dict()
    assert straight_state.keys() == resumed_state.keys()
    for name in straight_state:
        assert torch.equal(straight_state[name], resumed_state[name]), name
    assert _history_without_time(straight.history) == _history_without_time(resumed.history)
    assert resumed_trainer.global_step == 3 * math.ceil(40 / 8)
    assert (straight.best_epoch, straight.best_metrics) == (resumed.best_epoch, resumed.best_metrics)
    # Training really changed the parameters (otherwise equality would prove nothing).
    untrained = toy_model(seed=0).state_dict()
    assert not all(torch.equal(untrained[name], straight_state[name]) for name in untrained)


def test_resume_without_a_checkpoint_starts_fresh_and_matches_a_plain_run(tmp_path):
    train, validation = _datasets()
    plain_model, resumed_model = toy_model(seed=0), toy_model(seed=0)
    Trainer(plain_model, _config(tmp_path / "a", epochs=1)).fit(train, validation)
    Trainer(resumed_model, _config(tmp_path / "b", epochs=1)).fit(train, validation, resume=True)
    for name, value in plain_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name])


def test_resume_with_another_seed_is_refused(tmp_path):
    train, validation = _datasets()
    Trainer(toy_model(), _config(tmp_path, epochs=1)).fit(train, validation)
    with pytest.raises(checkpoints.CheckpointError, match="seed=3.*seed=4"):
        Trainer(toy_model(), _config(tmp_path, epochs=2, seed=4)).fit(train, validation, resume=True)


def test_checkpoint_files_are_safe_formats_and_old_ones_are_removed(tmp_path):
    train, validation = _datasets()
    model = toy_model()
    Trainer(model, _config(tmp_path, epochs=2)).fit(train, validation)
    directory = tmp_path / "checkpoints"
    names = sorted(path.name for path in directory.iterdir())
    assert names == [
        "best.safetensors",
        "epoch-0001.safetensors",  # the previous checkpoint is kept as a fall-back
        "epoch-0001.state.pt",
        "epoch-0002.safetensors",
        "epoch-0002.state.pt",
        "trainer_config.json",
    ]
    weights = safetensors.torch.load_file(str(directory / "epoch-0002.safetensors"))
    for name, value in model.state_dict().items():
        assert torch.equal(weights[name], value)
    state = torch.load(directory / "epoch-0002.state.pt", weights_only=True)
    assert state["epoch"] == 2 and state["global_step"] == 10
    assert json.loads((directory / "trainer_config.json").read_text())["seed"] == 3


def test_latest_checkpoint_ignores_weights_without_a_state_file(tmp_path):
    train, validation = _datasets()
    Trainer(toy_model(), _config(tmp_path, epochs=1)).fit(train, validation)
    directory = tmp_path / "checkpoints"
    (directory / "epoch-0005.safetensors").write_bytes(b"half written")
    latest = checkpoints.latest_checkpoint(directory)
    assert latest is not None and latest.epoch == 1


def test_failed_weight_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "weights.safetensors"
    checkpoints.save_weights(target, {"w": torch.ones(3)})

    def crash(tensors, filename):
        with open(filename, "wb") as stream:
            stream.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoints.save_weights(target, {"w": torch.zeros(3)})
    assert torch.equal(safetensors.torch.load_file(str(target))["w"], torch.ones(3))
    assert [path.name for path in tmp_path.iterdir()] == ["weights.safetensors"]


def test_weights_that_share_memory_are_saved(tmp_path):
    shared = torch.arange(4.0)
    checkpoints.save_weights(tmp_path / "w.safetensors", {"a": shared, "b": shared})
    loaded = checkpoints.load_weights(tmp_path / "w.safetensors")
    assert torch.equal(loaded["a"], shared) and torch.equal(loaded["b"], shared)


def test_state_file_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.state.pt"
    torch.save({"callback": print}, path)
    with pytest.raises(checkpoints.CheckpointError, match="evil.state.pt"):
        checkpoints.load_state(path)


def test_beta_rises_linearly_per_step_during_warm_up(tmp_path):
    train, _ = _datasets(n_train=32)
    model = toy_model()
    betas = []
    original_loss = model.loss

    def recording_loss(data, mask=None, beta=1.0):
        betas.append(beta)
        return original_loss(data, mask, beta)

    model.loss = recording_loss
    config = _config(None, epochs=3, batch_size=8, beta=2.0, beta_warmup_epochs=2)
    result = Trainer(model, config).fit(train)
    # 4 steps per epoch; beta = 2 * min(1, (epoch + step / 4) / 2)
    expected = [2.0 * min(1.0, (epoch + step / 4) / 2) for epoch in range(3) for step in range(4)]
    assert betas == pytest.approx(expected, abs=1e-12)
    assert [record["beta"] for record in result.history] == pytest.approx([0.75, 1.75, 2.0])


def test_validation_uses_the_final_beta_during_warm_up(tmp_path):
    train, validation = _datasets()
    model = toy_model()
    model.noise = _zero_noise
    config = _config(None, epochs=1, beta=0.5, beta_warmup_epochs=10)
    result = Trainer(model, config).fit(train, validation)
    loader = MultimodalLoader(validation, batch_size=5)
    expected = validation_loss(model, loader, beta=0.5)
    assert result.history[0]["validation/loss"] == pytest.approx(expected["loss"], rel=1e-6)
    assert result.history[0]["validation/kl/posterior"] == pytest.approx(expected["kl/posterior"], rel=1e-6)


def test_validation_loss_weights_batches_by_size():
    _, validation = _datasets(n_validation=10)
    model = toy_model()
    model.noise = _zero_noise
    uneven = validation_loss(model, MultimodalLoader(validation, batch_size=4), beta=0.7)  # 4 + 4 + 2
    batch = validation.batch(torch.arange(10))
    whole = model.loss(batch.data, batch.mask, beta=0.7)
    assert uneven["loss"] == pytest.approx(float(whole.loss.detach()), rel=1e-6)
    for name, value in whole.terms.items():
        assert uneven[name] == pytest.approx(float(value.detach()), rel=1e-6)


def test_best_epoch_follows_the_named_metric_and_mode(tmp_path):
    train, validation = _datasets()
    scripted = iter([5.0, 3.0, 4.0])
    weights_after_epoch = []

    def metric(model, loader):
        weights_after_epoch.append({name: value.clone() for name, value in model.state_dict().items()})
        batches = list(loader)
        return {"score": next(scripted), "n_batches": float(len(batches))}

    model = toy_model()
    config = _config(tmp_path, validation_metric="score", validation_mode="min", restore_best=True)
    result = Trainer(model, config, validation_metric=metric).fit(train, validation)
    assert result.best_epoch == 2
    assert result.best_metrics == {"score": 3.0, "n_batches": 2.0}
    for name, value in model.state_dict().items():  # restored to the best epoch's weights
        assert torch.equal(value, weights_after_epoch[1][name])
    best_file = safetensors.torch.load_file(str(tmp_path / "checkpoints" / "best.safetensors"))
    for name, value in weights_after_epoch[1].items():
        assert torch.equal(best_file[name], value)

    scripted = iter([5.0, 3.0, 4.0])
    config = _config(None, validation_metric="score", validation_mode="max")
    assert Trainer(toy_model(), config, validation_metric=metric).fit(train, validation).best_epoch == 1


def test_unknown_validation_metric_names_the_available_ones():
    train, validation = _datasets()
    with pytest.raises(KeyError, match="accuracy.*kl/posterior"):
        Trainer(toy_model(), _config(None, validation_metric="accuracy")).fit(train, validation)


def test_log_holds_every_term_per_epoch_in_csv_and_json(tmp_path):
    train, validation = _datasets(n_train=16)
    model = toy_model()
    model.noise = _zero_noise
    before = model.loss(train.data, train.mask, beta=1.0)  # one full batch: the first epoch's training average
    config = _config(tmp_path, epochs=2, batch_size=16)
    Trainer(model, config).fit(train, validation)
    records = read_epoch_log(tmp_path / "logs")
    assert [record["epoch"] for record in records] == [1, 2]
    for split in ("train", "validation"):
        for term in ("loss", "kl/posterior", "nll/m0", "nll/m1"):
            assert all(math.isfinite(record[f"{split}/{term}"]) for record in records)
    assert records[0]["train/loss"] == pytest.approx(float(before.loss.detach()), rel=1e-6)
    assert records[0]["train/nll/m1"] == pytest.approx(float(before.terms["nll/m1"].detach()), rel=1e-6)
    with open(tmp_path / "logs" / CSV_FILE, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 2
    for row, record in zip(rows, records, strict=True):
        assert set(row) == set(record)
        assert float(row["validation/nll/m0"]) == pytest.approx(record["validation/nll/m0"])
    assert (tmp_path / "logs" / JSON_FILE).is_file()


def test_training_without_validation_picks_the_best_training_epoch():
    train, _ = _datasets()
    result = Trainer(toy_model(), _config(None, epochs=3)).fit(train)
    losses = [record["train/loss"] for record in result.history]
    assert result.best_epoch == 1 + losses.index(min(losses))
    assert not any(key.startswith("validation/") for key in result.history[0])


def test_non_finite_loss_stops_training_with_its_position():
    train, _ = _datasets(n_train=16)
    train.data["m0"][9, 0] = float("nan")  # second batch of 8 in some epoch order; every epoch hits it
    model = toy_model()
    with pytest.raises(FloatingPointError, match="epoch 1, step [12]"):
        Trainer(model, _config(None, epochs=1)).fit(train)


def test_reconstruction_weights_override_the_modalities():
    model = toy_model()
    Trainer(model, _config(None, reconstruction_weights={"m1": 0.25}))
    assert model.reconstruction_weights == {"m0": 1.0, "m1": 0.25}
    with pytest.raises(KeyError, match="unknown modalities \\['image'\\]"):
        Trainer(toy_model(), _config(None, reconstruction_weights={"image": 2.0}))


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_bar_only_on_a_terminal(monkeypatch):
    trainer = Trainer(toy_model(), _config(None, progress=True))
    monkeypatch.setattr(sys, "stderr", _Stream(tty=False))
    assert not trainer._show_progress()
    monkeypatch.setattr(sys, "stderr", _Stream(tty=True))
    assert trainer._show_progress()
    assert not Trainer(toy_model(), _config(None, progress=False))._show_progress()


def test_single_process_is_the_main_process():
    assert Trainer(toy_model(), _config(None)).is_main_process


def test_without_directories_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train, validation = _datasets()
    Trainer(toy_model(), _config(None, epochs=1)).fit(train, validation)
    assert list(tmp_path.iterdir()) == []


class _ScriptedMetric:
    """A validation metric that returns a fixed sequence, one value per epoch."""

    def __init__(self, values):
        self.values = list(values)
        self.calls = 0

    def __call__(self, model, loader):
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return {"score": value}


def test_early_stopping_ends_a_flat_run_and_keeps_the_best_epoch():
    torch.set_num_threads(1)
    train, validation = _datasets()
    metric = _ScriptedMetric([0.1, 0.3, 0.2, 0.25, 0.29, 0.1, 0.1, 0.1])
    config = _config(
        None, epochs=8, validation_metric="score", validation_mode="max", early_stopping_patience=3, restore_best=True
    )
    result = Trainer(toy_model(seed=0), config, validation_metric=metric).fit(train, validation)
    # Best at epoch 2; epochs 3, 4, 5 do not beat it: stop after epoch 5 instead of running 8.
    assert result.best_epoch == 2 and result.epochs_completed == 5


def test_learning_rate_is_cut_after_a_plateau_and_again_after_another(tmp_path):
    torch.set_num_threads(1)
    train, validation = _datasets()
    scores = [0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3]
    config = _config(
        tmp_path, epochs=9, validation_metric="score", validation_mode="max", lr_decay_patience=2, lr_decay_factor=0.5
    )
    result = Trainer(toy_model(seed=0), config, validation_metric=_ScriptedMetric(scores)).fit(train, validation)
    rates = [record["learning_rate"] for record in result.history]
    # Best at epoch 2: after epochs 3-4 without gain the rate halves, after two more epochs at that rate again;
    # epoch 7 improves, and two epochs later (8, 9) the next cut comes after the run.
    assert rates == pytest.approx([1e-2, 1e-2, 1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3, 2.5e-3])

    # A run stopped after epoch 5 and resumed cuts at the same epochs.
    interrupted = _config(
        tmp_path / "resumed", epochs=5, validation_metric="score", validation_mode="max", lr_decay_patience=2
    )
    Trainer(toy_model(seed=0), interrupted, validation_metric=_ScriptedMetric(scores)).fit(train, validation)
    resumed_config = _config(
        tmp_path / "resumed", epochs=9, validation_metric="score", validation_mode="max", lr_decay_patience=2
    )
    resumed = Trainer(toy_model(seed=0), resumed_config, validation_metric=_ScriptedMetric(scores[5:])).fit(
        train, validation, resume=True
    )
    assert [record["learning_rate"] for record in resumed.history] == pytest.approx(rates)


def test_epochs_of_the_beta_warmup_count_towards_no_patience():
    torch.set_num_threads(1)
    train, validation = _datasets()
    # Flat from the first epoch: without the warm-up rule the run would stop after epoch 3.
    metric = _ScriptedMetric([0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    config = _config(
        None,
        epochs=8,
        validation_metric="score",
        validation_mode="max",
        beta_warmup_epochs=2.5,
        early_stopping_patience=2,
        lr_decay_patience=1,
    )
    result = Trainer(toy_model(seed=0), config, validation_metric=metric).fit(train, validation)
    # Warm-up ends after epoch 3: epochs 4 and 5 are the two without gain, so the run stops after epoch 5; the
    # learning rate is first cut after epoch 4 (one epoch past the warm-up), not after epoch 2.
    assert result.epochs_completed == 5
    assert [record["learning_rate"] for record in result.history] == pytest.approx([1e-2] * 4 + [5e-3])


def test_convergence_settings_are_validated():
    with pytest.raises(ValueError, match="early_stopping_patience"):
        TrainerConfig(early_stopping_patience=0)
    with pytest.raises(ValueError, match="lr_decay_factor"):
        TrainerConfig(lr_decay_factor=1.0)


@pytest.mark.parametrize("damaged", ["epoch-0002.state.pt", "epoch-0002.safetensors"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, damaged):
    train, validation = _datasets()
    Trainer(toy_model(), _config(tmp_path, epochs=2)).fit(train, validation)
    directory = tmp_path / "checkpoints"
    (directory / damaged).write_bytes(b"\x00garbage")
    trainer = Trainer(toy_model(), _config(tmp_path, epochs=3))
    with pytest.warns(UserWarning, match=f"{damaged}.*resuming from the previous one, epoch-0001.state.pt"):
        result = trainer.fit(train, validation, resume=True)
    assert [record["epoch"] for record in result.history] == [1, 2, 3]
    assert trainer.epoch == 3


def test_no_readable_checkpoint_is_one_clear_error(tmp_path):
    train, validation = _datasets()
    Trainer(toy_model(), _config(tmp_path, epochs=2)).fit(train, validation)
    for path in (tmp_path / "checkpoints").glob("epoch-*.state.pt"):
        path.write_bytes(b"not a state")
    with pytest.raises(
        checkpoints.CheckpointError, match="no checkpoint can be read: .*epoch-0002.state.pt.*epoch-0001"
    ):
        Trainer(toy_model(), _config(tmp_path, epochs=3)).fit(train, validation, resume=True)
