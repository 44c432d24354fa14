"""Training on several processes: stratified shards, one-process equivalence, mid-epoch resumption.

In-process tests check the pieces: the stratified, sharded data order, the launcher environment, and
mid-epoch checkpoints of one process. The multi-process tests start ``python -m torch.distributed.run``
(torchrun) with 2 gloo processes on 127.0.0.1, each running ``distributed_job.py``, which calls
``Trainer.fit`` like any one-process script. Every launch has a wall-clock limit and the processes a
collective timeout, so a broken run fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from click.testing import CliRunner
from distributed_job import job_config, job_datasets, zero_noise
from toy_vae import correlated_data, toy_model

from mmcore.data.dataset import MultimodalDataset
from mmcore.data.loader import (
    EpochSampler,
    MultimodalLoader,
    SequentialShardSampler,
    StratifiedShardSampler,
    order_generator,
    presence_groups,
    stratified_order,
)
from mmcore.training import checkpoint as checkpoints
from mmcore.training import distributed
from mmcore.training.config import TrainerConfig
from mmcore.training.trainer import Trainer
from mmcore.training.validation import validation_loss
from specvae_cli.mmcore_cli import main as mmcore_main

JOB_SCRIPT = Path(__file__).with_name("distributed_job.py")
LAUNCH_TIMEOUT_S = 150
COLLECTIVE_TIMEOUT_S = 30.0
# 50 samples at supervision 0.5: 25 paired, 13 with only m0, 12 with only m1 -- counts that two ranks cannot
# split evenly, and 7 steps of 8 per epoch with a short last one. 13 validation samples: shards of 7 and 6.
EQUIVALENCE_JOB = {
    "epochs": 2, "batch_size": 8, "n_train": 50, "n_validation": 13, "supervision": 0.5, "zero_noise": True,
    "timeout_s": COLLECTIVE_TIMEOUT_S,
}
# With noise: 48 samples, 6 steps per epoch; checkpoints every 3 steps, so one lands at epoch 2, step 3.
RESUME_JOB = {
    "epochs": 2, "batch_size": 8, "n_train": 48, "n_validation": 13, "supervision": 0.5,
    "checkpoint_every_steps": 3, "timeout_s": COLLECTIVE_TIMEOUT_S,
}


# ---------------------------------------------------------------------------------------------- launching
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _torchrun(job_files: list[Path], n_processes: int = 2) -> tuple[int, str]:
    """Run the job files under torchrun; (return code, output). Kills the whole process group on timeout."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(n_processes),
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), "--max-restarts", "0",
        "--monitor-interval", "0.1", str(JOB_SCRIPT), *map(str, job_files),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # gloo would otherwise resolve the host name, which may fail
    process = subprocess.Popen(
        command, cwd=JOB_SCRIPT.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=LAUNCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"torchrun did not finish within {LAUNCH_TIMEOUT_S} s:\n{output[-4000:]}")
    return process.returncode, output


def _job_file(job: dict, output: Path) -> Path:
    output.mkdir(parents=True, exist_ok=True)
    path = output / "job.json"
    path.write_text(json.dumps({**job, "output": str(output)}))
    return path


def _result(output: Path) -> dict:
    return json.loads((output / "result.json").read_text())


def _final_weights(output: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(str(output / "final.safetensors"))


def _one_process_run(job: dict, **overrides):
    """The job trained in this process (zero noise when the job says so); returns (model, FitResult)."""
    job = {**job, **overrides}
    train, validation = job_datasets(job)
    model = toy_model(seed=0)
    if job.get("zero_noise"):
        model.noise = zero_noise
    result = Trainer(model, job_config(job, None)).fit(train, validation)
    return model, result


# ---------------------------------------------------------------------------------------------- data order
def _random_groups(sizes: list[int], seed: int) -> np.ndarray:
    groups = np.concatenate([np.full(size, group) for group, size in enumerate(sizes)])
    return np.random.default_rng(seed).permutation(groups)


def test_round_size_one_is_the_plain_epoch_permutation():
    groups = _random_groups([20, 9, 8], seed=0)
    for epoch in range(3):
        sampler = EpochSampler(len(groups), seed=5)
        sampler.set_epoch(epoch)
        assert stratified_order(groups, seed=5, epoch=epoch, round_size=1).tolist() == list(sampler)


def test_rounds_share_one_pattern_and_follow_the_seeded_permutation():
    groups = _random_groups([11, 7, 5], seed=1)
    order = stratified_order(groups, seed=2, epoch=1, round_size=4)
    permutation = order_generator(2, 1).permutation(len(groups))
    position = np.argsort(permutation)  # where each sample stands in the permutation
    # Full rounds: 2 of group 0, 1 of group 1, 1 of group 2. Leftovers 3, 3 and 1 are pooled group by group
    # into one mixed round (3 of group 0, 1 of group 1); the last 3 leftovers are dropped.
    assert len(order) == 20 and len(set(order.tolist())) == 20
    rounds = order.reshape(-1, 4)
    kinds = [tuple(sorted(set(groups[chunk].tolist()))) for chunk in rounds]
    assert sorted(kinds) == [(0,), (0,), (0, 1), (1,), (2,)]
    mixed = rounds[kinds.index((0, 1))]
    assert groups[mixed].tolist() == [0, 0, 0, 1]
    for group, n_full in [(0, 8), (1, 4), (2, 4)]:
        in_permutation_order = permutation[groups[permutation] == group]
        full_rounds = np.concatenate([chunk for chunk, kind in zip(rounds, kinds, strict=True) if kind == (group,)])
        assert full_rounds.tolist() == in_permutation_order[:n_full].tolist()
    assert mixed.tolist() == [*permutation[groups[permutation] == 0][8:], permutation[groups[permutation] == 1][4]]
    assert np.all(np.diff(position[rounds[:, 0]]) > 0)  # rounds ordered by where their first member stands


@pytest.mark.parametrize(("world_size", "rounds_per_rank"), [(2, 1), (3, 1), (4, 1), (2, 3)])
def test_every_rank_gets_the_same_share_of_each_presence_pattern(world_size, rounds_per_rank):
    round_size = world_size * rounds_per_rank
    groups = _random_groups([41, 23, 17, 6], seed=world_size)
    for epoch in range(3):
        orders = []
        for rank in range(world_size):
            sampler = StratifiedShardSampler(groups, seed=7, round_size=round_size, rank=rank, world_size=world_size)
            sampler.set_epoch(epoch)
            orders.append(sampler.order())
            assert len(sampler) == len(orders[-1]) == (87 - 87 % round_size) // world_size
        everything = np.concatenate(orders)
        assert len(set(everything.tolist())) == len(everything)  # no sample on two ranks
        assert len(groups) - len(everything) < round_size  # at most a partial round is dropped
        for group in range(4):
            counts = [int(np.sum(groups[order] == group)) for order in orders]
            assert max(counts) - min(counts) <= 1, (epoch, group, counts)


def test_pattern_counts_divisible_by_the_round_size_split_exactly():
    groups = _random_groups([24, 12, 12], seed=3)
    for world_size in (2, 4):
        for rank in range(world_size):
            sampler = StratifiedShardSampler(groups, seed=1, round_size=world_size, rank=rank, world_size=world_size)
            sampler.set_epoch(2)
            counts = np.bincount(groups[sampler.order()], minlength=3)
            assert counts.tolist() == [24 // world_size, 12 // world_size, 12 // world_size]


def test_ranks_together_draw_the_single_process_batches():
    """Step by step, the union of the ranks' batches of B / W is the one-process batch of B (same round size)."""
    groups = _random_groups([30, 14, 9], seed=4)
    dataset = MultimodalDataset({"index": torch.arange(53.0).unsqueeze(1)})
    global_batch, world_size = 8, 2
    single = StratifiedShardSampler(groups, seed=9, round_size=world_size)
    single.set_epoch(1)
    single_batches = [batch.data["index"][:, 0].long().tolist() for batch in MultimodalLoader(dataset, 8, single)]
    rank_batches = []
    for rank in range(world_size):
        sampler = StratifiedShardSampler(groups, seed=9, round_size=world_size, rank=rank, world_size=world_size)
        loader = MultimodalLoader(dataset, global_batch // world_size, sampler)
        loader.set_epoch(1)
        rank_batches.append([batch.data["index"][:, 0].long().tolist() for batch in loader])
    assert len(rank_batches[0]) == len(rank_batches[1]) == len(single_batches) == math.ceil(52 / 8)
    for step, batch in enumerate(single_batches):
        assert sorted(rank_batches[0][step] + rank_batches[1][step]) == sorted(batch)
        assert len(rank_batches[0][step]) == len(rank_batches[1][step])  # equal sizes: DDP's mean is exact


def test_presence_groups_number_patterns_by_first_appearance():
    mask = {"a": torch.tensor([False, True, True, True, False]), "b": torch.tensor([True, True, False, True, True])}
    dataset = MultimodalDataset({"a": torch.zeros(5, 1), "b": torch.zeros(5, 1)}, mask=mask)
    assert presence_groups(dataset).tolist() == [0, 1, 2, 1, 0]
    assert presence_groups(list(range(4))).tolist() == [0, 0, 0, 0]  # no masks: one group


def test_sequential_shards_cover_every_sample_once_and_loaders_resume_mid_epoch():
    shards = [SequentialShardSampler(13, rank, 2).order().tolist() for rank in range(2)]
    assert shards == [[0, 2, 4, 6, 8, 10, 12], [1, 3, 5, 7, 9, 11]]
    dataset = MultimodalDataset({"index": torch.arange(23.0).unsqueeze(1)})
    loader = MultimodalLoader(dataset, 5, EpochSampler(23, seed=1))
    every = [batch.data["index"][:, 0].tolist() for batch in loader]
    assert [batch.data["index"][:, 0].tolist() for batch in loader.batches(3)] == every[3:]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"round_size": 3, "world_size": 2}, "multiple of world_size"), ({"rank": 2, "world_size": 2}, "rank")],
)
def test_invalid_shards_are_rejected(arguments, message):
    with pytest.raises(ValueError, match=message):
        StratifiedShardSampler(np.zeros(10), **arguments)


# ---------------------------------------------------------------------------------------------- environment
def test_place_comes_from_the_torchrun_variables():
    assert distributed.place_from_environment({}) == distributed.ProcessPlace()
    assert distributed.place_from_environment({"WORLD_SIZE": "1", "RANK": "0"}).world_size == 1
    place = distributed.place_from_environment({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (place.rank, place.local_rank, place.world_size, place.is_main) == (3, 1, 4, False)
    with pytest.raises(distributed.DistributedSetupError, match="LOCAL_RANK is not"):
        distributed.place_from_environment({"WORLD_SIZE": "2", "RANK": "0"})
    with pytest.raises(distributed.DistributedSetupError, match="RANK='x'"):
        distributed.place_from_environment({"WORLD_SIZE": "2", "RANK": "x", "LOCAL_RANK": "0"})
    with pytest.raises(distributed.DistributedSetupError, match="outside"):
        distributed.place_from_environment({"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0"})


def test_rank_seeds_keep_rank_zero_and_differ_between_ranks():
    seeds = [distributed.rank_seed(11, rank) for rank in range(4)]
    assert seeds[0] == 11 and len(set(seeds)) == 4
    assert seeds == [distributed.rank_seed(11, rank) for rank in range(4)]
    assert all(0 <= seed < 2**63 for seed in seeds)


def test_device_choice_under_torchrun():
    place = distributed.ProcessPlace(rank=1, local_rank=1, world_size=2)
    assert distributed.training_device("cpu", place) == torch.device("cpu")
    assert distributed.backend_for(torch.device("cpu")) == "gloo"
    assert distributed.backend_for(torch.device("cuda", 0)) == "nccl"
    with pytest.raises(distributed.DistributedSetupError, match="cuda:0.*LOCAL_RANK=1"):
        distributed.training_device("cuda:0", place)


@pytest.mark.parametrize(
    ("setting", "value"), [("checkpoint_every_steps", 0), ("data_shards", 0), ("distributed_timeout_s", 0.0)]
)
def test_invalid_distributed_settings_are_rejected(setting, value):
    with pytest.raises(ValueError, match=setting):
        TrainerConfig(**{setting: value})


def test_one_process_sums_are_its_own():
    sums, count = distributed.sum_across_processes({"loss": 6.0}, 4, distributed.ProcessPlace())
    assert (sums, count) == ({"loss": 6.0}, 4)
    assert distributed.ranks_with_flag(True, distributed.ProcessPlace(), torch.device("cpu")) == [0]


# ---------------------------------------------------------------------------------------------- one process
def _config(tmp_path, **overrides) -> TrainerConfig:
    values = dict(epochs=2, batch_size=8, learning_rate=1e-2, seed=3, progress=False, restore_best=False)
    if tmp_path is not None:
        values.update(checkpoint_dir=str(tmp_path / "checkpoints"), log_dir=str(tmp_path / "logs"))
    values.update(overrides)
    return TrainerConfig(**values)


class _Crash(Exception):
    pass


def _crash_at(model, training_step: int):
    original_loss = model.loss
    calls = 0

    def loss(data, mask=None, beta=1.0):
        nonlocal calls
        if model.training:
            calls += 1
            if calls == training_step:
                raise _Crash
        return original_loss(data, mask, beta)

    model.loss = loss


def _without_seconds(history):
    return [{key: value for key, value in record.items() if key != "seconds"} for record in history]


def test_checkpoints_are_ordered_by_epoch_then_step(tmp_path):
    for epoch, step in [(0, 5), (1, 0), (1, 3)]:
        checkpoints.save_checkpoint(tmp_path, epoch, {"w": torch.ones(1)}, {"epoch": epoch}, step=step)
    latest = checkpoints.latest_checkpoint(tmp_path)
    assert (latest.epoch, latest.step, latest.state.name) == (1, 3, "epoch-0001-step-000003.state.pt")
    checkpoints.remove_checkpoints_before(tmp_path, 1, 3)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "epoch-0001-step-000003.safetensors", "epoch-0001-step-000003.state.pt"
    ]


def test_mid_epoch_resume_in_one_process_equals_an_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    train = MultimodalDataset(correlated_data(40, seed=1))
    validation = MultimodalDataset(correlated_data(12, seed=2))

    straight_model = toy_model(seed=0)  # no mid-epoch checkpoints: writing them must not change anything
    straight = Trainer(straight_model, _config(tmp_path / "straight")).fit(train, validation)

    crashed_model = toy_model(seed=0)
    _crash_at(crashed_model, training_step=9)  # epoch 2, step 4; last checkpoint after epoch 2, step 3
    with pytest.raises(_Crash):
        Trainer(crashed_model, _config(tmp_path / "resumed", checkpoint_every_steps=4)).fit(train, validation)
    latest = checkpoints.latest_checkpoint(tmp_path / "resumed" / "checkpoints")
    assert (latest.epoch, latest.step) == (1, 3)
    state = checkpoints.load_state(latest.state)
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (1, 3, 8)
    assert state["processes"][0]["samples"] == 24  # three batches of 8 of the unfinished epoch

    torch.manual_seed(12345)  # a new process: other global random state, other initial weights
    resumed_model = toy_model(seed=99)
    trainer = Trainer(resumed_model, _config(tmp_path / "resumed", checkpoint_every_steps=4))
    resumed = trainer.fit(train, validation, resume=True)
    for name, value in straight_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name]), name
    assert _without_seconds(resumed.history) == _without_seconds(straight.history)
    assert trainer.global_step == 10 and trainer.step_in_epoch == 0


def test_resume_with_other_data_shards_is_refused(tmp_path):
    train = MultimodalDataset(correlated_data(16, seed=1))
    Trainer(toy_model(), _config(tmp_path, epochs=1)).fit(train)
    with pytest.raises(checkpoints.CheckpointError, match="data_shards=1.*data_shards=2"):
        Trainer(toy_model(), _config(tmp_path, data_shards=2)).fit(train, resume=True)


def test_evaluate_in_one_process_is_the_validation_loss():
    data = MultimodalDataset(correlated_data(13, seed=2))
    model = toy_model()
    model.noise = zero_noise
    expected = validation_loss(model, MultimodalLoader(data, 13), beta=0.5)
    metrics = Trainer(model, _config(None, beta=0.5, batch_size=4)).evaluate(data)
    assert metrics.keys() == expected.keys()
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, rel=1e-6)


def test_cli_records_the_distributed_options(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)
    np.savez(
        root / "mnist" / "mnist.npz",
        x_train=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), y_train=rng.integers(0, 10, 40, dtype=np.uint8),
        x_test=rng.integers(0, 256, (8, 28, 28), dtype=np.uint8), y_test=rng.integers(0, 10, 8, dtype=np.uint8),
    )
    out = tmp_path / "run"
    arguments = [
        "train", "--benchmark", "mnist-split", "--model", "jmvae", "--epochs", "1", "--validation-size", "8",
        "--data-dir", str(root), "--no-verify", "-o", str(out), "--latent-dim", "2", "--hidden-dims", "8",
        "--batch-size", "8", "--no-progress", "--num-threads", "1", "--checkpoint-every-steps", "3",
        "--data-shards", "2", "--distributed-timeout", "60",
    ]
    result = CliRunner().invoke(mmcore_main, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "run_config.json").read_text())
    assert config["processes"] == 1
    trainer_settings = config["trainer"]
    assert (trainer_settings["checkpoint_every_steps"], trainer_settings["data_shards"]) == (3, 2)
    assert trainer_settings["distributed_timeout_s"] == 60.0
    kept = sorted(path.name for path in (out / "checkpoints").glob("epoch-*"))
    assert kept[-2:] == ["epoch-0001.safetensors", "epoch-0001.state.pt"] and len(kept) <= 4  # and the previous one


# ---------------------------------------------------------------------------------------------- two processes
# Each test launches torchrun itself (no shared fixture): under pytest-xdist a module fixture would be
# rebuilt on every worker, doubling the slowest part of the suite.


def test_two_processes_under_torchrun_equal_one_process_with_the_same_global_batch(tmp_path):
    """2 gloo processes with 4 samples each per step end where one process with batches of 8 ends.

    Why zero noise: each process draws reparametrisation noise from its own seed (``rank_seed``), so with
    noise the two runs would differ by design; with ``model.noise`` returning zeros the loss is a
    deterministic function of the weights, and the only differences left are float rounding (DDP averages
    two half-batch gradients, one process sums in another order). The one-process run uses
    ``data_shards=2`` so that it draws the same global batches.
    """
    output = tmp_path / "equivalence"
    code, log = _torchrun([_job_file(EQUIVALENCE_JOB, output)])
    assert code == 0, log[-4000:]
    result = _result(output)
    assert result["world_size"] == 2 and result["parameter_spread"] == 0.0  # DDP kept both replicas equal
    assert result["live_ddp_wrappers_after_fit"] == [0, 0]  # fit drops DDP before the processes exit
    assert result["global_step"] == 2 * 7

    model, single = _one_process_run(EQUIVALENCE_JOB, data_shards=2)
    weights = _final_weights(output)
    for name, value in model.state_dict().items():
        assert torch.allclose(weights[name], value, rtol=0, atol=1e-6), name
    untrained = toy_model(seed=0).state_dict()  # training moved the weights far more than the tolerance
    assert max(float((untrained[name] - value).abs().max()) for name, value in weights.items()) > 0.05
    for distributed_record, single_record in zip(result["history"], _without_seconds(single.history), strict=True):
        assert distributed_record.keys() == single_record.keys()
        for key, value in single_record.items():
            assert distributed_record[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key

    _check_validation_is_reduced_from_sums_and_counts(output, result)
    _check_presence_proportions_per_rank(result)
    _check_only_rank_zero_wrote(output, result)
    _check_resuming_on_one_process(output, tmp_path / "continued")


def _check_validation_is_reduced_from_sums_and_counts(output: Path, result: dict) -> None:
    """The 13 validation samples are split 7 / 6; averaging the two shards' means would be measurably off."""
    model = toy_model(seed=0)
    model.load_state_dict(_final_weights(output))
    model.noise = zero_noise
    model.eval()
    _, validation = job_datasets(EQUIVALENCE_JOB)
    everything = validation_loss(model, MultimodalLoader(validation, 13))["loss"]
    shard_means = [
        validation_loss(model, MultimodalLoader(validation, 13, SequentialShardSampler(13, rank, 2)))["loss"]
        for rank in range(2)
    ]
    assert result["history"][-1]["validation/loss"] == pytest.approx(everything, rel=1e-6)
    assert abs(sum(shard_means) / 2 - everything) > 100 * 1e-6 * abs(everything)


def _check_presence_proportions_per_rank(result: dict) -> None:
    """25 paired, 13 only-m0 and 12 only-m1 samples: in every epoch each rank gets half of each, within one."""
    for epoch in ("0", "1"):
        per_rank = [Counter(result["patterns"][rank][epoch]) for rank in range(2)]
        assert sum(per_rank, Counter()) == Counter({"paired": 25, "only m0": 13, "only m1": 12})
        for kind in ("paired", "only m0", "only m1"):
            assert abs(per_rank[0][kind] - per_rank[1][kind]) <= 1, (epoch, kind, per_rank)
        assert sum(per_rank[0].values()) == sum(per_rank[1].values()) == 25


def _check_only_rank_zero_wrote(output: Path, result: dict) -> None:
    """Rank 1 never started an atomic write; rank 0's checkpoint holds both ranks' (different) random states."""
    assert result["foreign_writes"] == []
    names = sorted(path.name for path in (output / "checkpoints").iterdir())
    assert names == [
        "best.safetensors",
        "epoch-0001.safetensors",
        "epoch-0001.state.pt",
        "epoch-0002.safetensors",
        "epoch-0002.state.pt",
        "trainer_config.json",
    ]
    state = checkpoints.load_state(output / "checkpoints" / "epoch-0002.state.pt")
    assert state["world_size"] == 2 and len(state["processes"]) == 2
    assert not torch.equal(state["processes"][0]["rng"]["torch"], state["processes"][1]["rng"]["torch"])


def _check_resuming_on_one_process(output: Path, directory: Path) -> None:
    """Fewer processes, same data_shards: the data order continues; with zero noise so does everything."""
    (directory / "checkpoints").mkdir(parents=True)
    for path in (output / "checkpoints").iterdir():
        (directory / "checkpoints" / path.name).write_bytes(path.read_bytes())
    job = {**EQUIVALENCE_JOB, "epochs": 3, "data_shards": 2}
    train, validation = job_datasets(job)
    model = toy_model(seed=5)
    model.noise = zero_noise
    with pytest.warns(UserWarning, match="2 process random states, this run has 1"):
        continued = Trainer(model, job_config(job, directory)).fit(train, validation, resume=True)
    reference_model, reference = _one_process_run(job)
    for name, value in reference_model.state_dict().items():
        assert torch.allclose(model.state_dict()[name], value, rtol=0, atol=1e-6), name
    assert continued.history[-1]["train/loss"] == pytest.approx(reference.history[-1]["train/loss"], rel=1e-6)


def test_killed_two_process_run_resumes_to_the_uninterrupted_result(tmp_path):
    """Rank 0 is SIGKILLed at step 11 (epoch 2, step 5); the resumed run replays steps 10-12 from the
    checkpoint of epoch 2, step 3 and must end bit-identical to the uninterrupted run, noise included:
    every rank's random state is in the checkpoint.

    One launch runs the uninterrupted job and then the job that crashes (which ends the launch); a
    second launch resumes.
    """
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    code, log = _torchrun(
        [_job_file(RESUME_JOB, straight), _job_file({**RESUME_JOB, "crash_at_step": 11}, interrupted)]
    )
    assert code != 0 and "SIGKILL" in log, log[-4000:]
    assert _result(straight)["global_step"] == 12
    latest = checkpoints.latest_checkpoint(interrupted / "checkpoints")
    assert (latest.epoch, latest.step) == (1, 3)
    assert not (interrupted / "result.json").exists()

    code, log = _torchrun([_job_file({**RESUME_JOB, "resume": True}, interrupted)])
    assert code == 0, log[-4000:]
    resumed_weights, straight_weights = _final_weights(interrupted), _final_weights(straight)
    for name, value in straight_weights.items():
        assert torch.equal(resumed_weights[name], value), name
    assert _result(interrupted)["history"] == _result(straight)["history"]
    assert _result(interrupted)["global_step"] == 12
    # The replayed epoch ran only its last three steps: 3 x 4 samples per rank.
    assert [sum(_result(interrupted)["patterns"][rank]["1"].values()) for rank in range(2)] == [12, 12]
