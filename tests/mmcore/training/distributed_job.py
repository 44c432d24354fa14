"""A training script for the distributed tests: run it with torchrun, or with plain python for one process.

Usage: ``python -m torch.distributed.run --nproc-per-node 2 distributed_job.py JOB.json [JOB.json ...]``.
The script calls ``Trainer.fit`` exactly as a one-process script would; torchrun's environment alone makes
it distributed. Several job files run one after the other in the same processes (starting processes is
the slow part of these tests). A job file names the output folder and a few switches (see :func:`run_job`).
Around the training the script records what the tests check and rank 0 writes it to ``OUTPUT/result.json``:

* ``parameter_spread``: the largest difference of any parameter between processes (DDP must keep them equal);
* ``patterns``: per epoch and rank, how many training samples of each presence pattern the rank saw;
* ``foreign_writes``: files that a rank other than 0 tried to create (must be none);
* ``live_ddp_wrappers_after_fit``: per rank, DistributedDataParallel objects still alive after ``fit`` (must be 0:
  a wrapper left for interpreter exit can abort the process);
* ``history``: the trainer's per-epoch records without their timings.

The final weights are in ``OUTPUT/final.safetensors``. ``crash_at_step`` makes rank 0 kill itself with
SIGKILL (no clean-up, like a pre-empted machine) when it starts that training step.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from toy_vae import correlated_data, toy_model

from mmcore.data.dataset import MultimodalDataset
from mmcore.training import Trainer, TrainerConfig, apply_supervision
from mmcore.training.checkpoint import atomic_write_json, save_weights
from mmcore.training.distributed import ProcessPlace, current_place, gather_objects

PATTERN_NAMES = {(True, True): "paired", (True, False): "only m0", (False, True): "only m1"}


def job_datasets(job: dict) -> tuple[MultimodalDataset, MultimodalDataset]:
    """The training set (semi-supervised masks) and the validation set of a job; the tests rebuild them."""
    train = MultimodalDataset(correlated_data(job["n_train"], seed=1))
    train = apply_supervision(train, job["supervision"], seed=0)
    validation = MultimodalDataset(correlated_data(job["n_validation"], seed=2))
    return train, validation


def job_config(job: dict, output: Path | None) -> TrainerConfig:
    """The trainer settings of a job; ``output=None`` writes nothing (for the tests' one-process runs)."""
    return TrainerConfig(
        epochs=job["epochs"],
        batch_size=job["batch_size"],
        learning_rate=1e-2,
        seed=3,
        progress=False,
        restore_best=False,
        checkpoint_dir=None if output is None else str(output / "checkpoints"),
        log_dir=None if output is None else str(output / "logs"),
        checkpoint_every_steps=job.get("checkpoint_every_steps"),
        data_shards=job.get("data_shards"),
        distributed_timeout_s=job.get("timeout_s", 30.0),
    )


def zero_noise(shape, like):
    return torch.zeros(shape, dtype=like.dtype, device=like.device)


def run_job(job_file: str) -> None:
    """Train one job. Keys: output, epochs, batch_size, n_train, n_validation, supervision, and optionally
    zero_noise, checkpoint_every_steps, data_shards, timeout_s, resume, crash_at_step."""
    job = json.loads(Path(job_file).read_text())
    output = Path(job["output"])
    torch.set_num_threads(1)
    place = current_place()
    foreign_writes: list[str] = []
    make_temporary = tempfile.mkstemp

    def recording_mkstemp(*args, **kwargs):  # every atomic write of mmcore starts here
        foreign_writes.append(str(kwargs.get("dir", args[2] if len(args) > 2 else "")))
        return make_temporary(*args, **kwargs)

    if not place.is_main:
        tempfile.mkstemp = recording_mkstemp
    try:
        _train(job, output, place, foreign_writes)
    finally:
        tempfile.mkstemp = make_temporary


def _train(job: dict, output: Path, place: ProcessPlace, foreign_writes: list[str]) -> None:
    train, validation = job_datasets(job)
    model = toy_model(seed=0)
    if job.get("zero_noise"):
        model.noise = zero_noise
    patterns: dict[int, Counter] = {}
    trainer: Trainer | None = None
    original_loss = model.loss
    training_calls = 0

    def observed_loss(data, mask=None, beta=1.0):
        nonlocal training_calls
        if model.training:
            training_calls += 1
            if place.is_main and training_calls == job.get("crash_at_step"):
                os.kill(os.getpid(), signal.SIGKILL)
            counts = patterns.setdefault(trainer.epoch, Counter())
            for present_m0, present_m1 in zip(mask["m0"].tolist(), mask["m1"].tolist(), strict=True):
                counts[PATTERN_NAMES[(present_m0, present_m1)]] += 1
        return original_loss(data, mask, beta)

    model.loss = observed_loss
    trainer = Trainer(model, job_config(job, output))
    result = trainer.fit(train, validation, resume=job.get("resume", False))

    live_wrappers = sum(isinstance(item, DistributedDataParallel) for item in gc.get_objects())
    flat = torch.cat([value.detach().flatten().cpu() for value in model.state_dict().values()])
    reports = gather_objects(
        {
            "parameters": flat,
            "patterns": {epoch: dict(c) for epoch, c in patterns.items()},
            "writes": foreign_writes,
            "live_wrappers": live_wrappers,
        },
        place,
    )
    if not place.is_main:
        return
    save_weights(output / "final.safetensors", model.state_dict())
    atomic_write_json(
        output / "result.json",
        {
            "world_size": place.world_size,
            "parameter_spread": max(float((r["parameters"] - flat).abs().max()) for r in reports),
            "patterns": [r["patterns"] for r in reports],
            "foreign_writes": [path for r in reports for path in r["writes"]],
            "live_ddp_wrappers_after_fit": [r["live_wrappers"] for r in reports],
            "history": [{k: v for k, v in record.items() if k != "seconds"} for record in result.history],
            "global_step": trainer.global_step,
        },
    )


if __name__ == "__main__":
    for path in sys.argv[1:]:
        run_job(path)
