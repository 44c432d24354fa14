"""One trainer for every fusion model, in one process or in many.

The trainer only uses the :class:`~mmcore.models.base.MultimodalVAE` interface (``model(data, mask,
beta=...)`` returns a :class:`~mmcore.models.base.LossOutput`), so it never branches on a model's name.
It owns everything a model must not know about: the device, the processes, the optimiser (Adam), the KL
warm-up, the data order, checkpoints, logs and the progress bar.

Reproducibility: the data order of epoch ``e`` is a function of ``(seed, e)`` only
(:class:`~mmcore.data.loader.StratifiedShardSampler`), and the state of torch's random number generator (which
the models use for their reparametrisation noise) is saved in every checkpoint, for every process. Hence
training ``n`` epochs straight and training part of them, stopping (even mid-epoch, with
``checkpoint_every_steps``), and resuming give the same parameters.

Several processes: when torchrun launches the script (``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` are set) the
trainer joins the process group (gloo on CPU, NCCL on GPU), wraps the model in DistributedDataParallel and
gives every process ``1 / W`` of each global batch. The models' losses are batch means, so DDP's average
of the processes' gradients is the gradient of the global batch, as long as every process holds the same
number of samples, which the sampler guarantees. Only rank 0 writes files and shows progress; validation
sums and counts are added over processes before any mean is taken.
"""

from __future__ import annotations

import contextlib
import gc
import math
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from mmcore.data.loader import (
    BatchSource,
    DeviceLoader,
    MultimodalLoader,
    SequentialShardSampler,
    StratifiedShardSampler,
    presence_groups,
)
from mmcore.models.base import LossOutput, MultimodalVAE
from mmcore.training import checkpoint as checkpoints
from mmcore.training import distributed
from mmcore.training.config import TrainerConfig
from mmcore.training.epoch_log import write_epoch_log
from mmcore.training.schedule import warmup_beta
from mmcore.training.validation import ValidationMetric, validation_sums


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` returns: the best epoch (1-based), its validation metrics, and every epoch's record."""

    best_epoch: int | None
    best_metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def epochs_completed(self) -> int:
        return len(self.history)


def _copy_state(model: torch.nn.Module) -> dict[str, Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


class Trainer:
    """Train a :class:`MultimodalVAE` with Adam on a :class:`~mmcore.data.dataset.MultimodalDataset`.

    Example::

        trainer = Trainer(model, TrainerConfig(epochs=20, beta_warmup_epochs=5, checkpoint_dir="out/"))
        result = trainer.fit(splits.train, splits.validation, resume=True)
        print(result.best_epoch, result.best_metrics)

    The same script, started with ``torchrun --nproc-per-node 4 script.py``, trains on 4 processes.

    ``validation_metric`` is a callable ``(model, validation_loader) -> dict[str, float]``; the config's
    ``validation_metric`` names the entry that picks the best epoch. The default is
    :func:`~mmcore.training.validation.validation_loss` at the final β.
    """

    def __init__(
        self,
        model: MultimodalVAE,
        config: TrainerConfig | None = None,
        validation_metric: ValidationMetric | None = None,
    ) -> None:
        self.config = TrainerConfig() if config is None else config
        self.place = distributed.current_place()
        self._check_process_layout()
        self.device = distributed.training_device(self.config.device, self.place)
        unknown = set(self.config.reconstruction_weights) - set(model.modality_names)
        if unknown:
            raise KeyError(
                f"reconstruction_weights name unknown modalities {sorted(unknown)}; model has {model.modality_names}"
            )
        model.reconstruction_weights.update(self.config.reconstruction_weights)
        distributed.join_process_group(self.place, self.device, self.config.distributed_timeout_s)
        self.model = model.to(self.device)
        self._forward: torch.nn.Module = self.model  # DistributedDataParallel(model) while fit runs on processes
        self.validation_metric = validation_metric
        trainable = [parameter for parameter in self.model.parameters() if parameter.requires_grad]
        self.optimizer = torch.optim.Adam(trainable, lr=self.config.learning_rate)
        self.epoch = 0
        self.step_in_epoch = 0
        self.global_step = 0
        self.history: list[dict[str, Any]] = []
        self.best_epoch: int | None = None
        self.best_value: float | None = None
        self.best_metrics: dict[str, float] = {}
        self._best_state: dict[str, Tensor] | None = None
        self._epoch_totals: dict[str, Tensor] = {}
        self._epoch_samples = 0

    @contextlib.contextmanager
    def _data_parallel(self) -> Iterator[None]:
        """Wrap the model in DistributedDataParallel for the duration of a fit (a no-op on one process).

        DDP exists only while training: it is dropped, with its gradient reducer, when ``fit`` ends, while the
        process group and the interpreter are still alive. A reducer left for interpreter shutdown is freed
        after the process group is destroyed, and gloo can then abort the process (SIGABRT, "terminate called
        without an active exception") although training finished.
        """
        if not self.place.is_distributed:
            yield
            return
        # Unused parameters are normal here: a batch in which no sample has a modality leaves that modality's
        # encoder out of the graph. Parameters unused on every process keep grad None (Adam skips them), as in
        # one process.
        self._forward = DistributedDataParallel(
            self.model,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=True,
        )
        try:
            yield
        finally:
            self._forward = self.model
            gc.collect()  # DDP's internal reference cycles would otherwise keep the reducer until a later collection

    # ------------------------------------------------------------------ process and file layout
    def _check_process_layout(self) -> None:
        world_size = self.place.world_size
        if self.config.batch_size % world_size:
            raise ValueError(
                f"batch_size={self.config.batch_size} is the global batch and must be a multiple of the "
                f"{world_size} processes"
            )
        if self.data_shards % world_size:
            raise ValueError(f"data_shards={self.data_shards} must be a multiple of the {world_size} processes")

    @property
    def world_size(self) -> int:
        return self.place.world_size

    @property
    def rank(self) -> int:
        return self.place.rank

    @property
    def is_main_process(self) -> bool:
        """True on rank 0 (and in a single process): only the main process writes files."""
        return self.place.is_main

    @property
    def data_shards(self) -> int:
        """The round size of the stratified data order: ``config.data_shards``, else the number of processes."""
        return self.config.data_shards or self.place.world_size

    @property
    def process_batch_size(self) -> int:
        """This process's share of the global batch."""
        return self.config.batch_size // self.place.world_size

    @property
    def checkpoint_dir(self) -> Path | None:
        return None if self.config.checkpoint_dir is None else Path(self.config.checkpoint_dir)

    @property
    def log_dir(self) -> Path | None:
        return None if self.config.log_dir is None else Path(self.config.log_dir)

    def _show_progress(self) -> bool:
        return self.config.progress and self.is_main_process and sys.stderr.isatty()

    # ------------------------------------------------------------------ random state
    def _rng_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _set_rng_state(self, state: Mapping[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        if self.device.type == "cuda" and "cuda" in state:
            saved = state["cuda"]
            if isinstance(saved, (list, tuple)):  # checkpoints before per-process states held every GPU's
                torch.cuda.set_rng_state_all(saved)
            else:
                torch.cuda.set_rng_state(saved, self.device)

    # ------------------------------------------------------------------ checkpoints
    def _process_state(self) -> dict[str, Any]:
        """What differs between processes: the random state, and the sums of the epoch trained so far."""
        return {
            "rng": self._rng_state(),
            "totals": {name: float(total) for name, total in self._epoch_totals.items()},
            "samples": self._epoch_samples,
        }

    def _trainer_state(self, process_states: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "optimizer": self.optimizer.state_dict(),
            "processes": process_states,
            "world_size": self.place.world_size,
            "data_shards": self.data_shards,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "best_metrics": dict(self.best_metrics),
            "history": list(self.history),
            "config": self.config.to_dict(),
        }

    def _save_checkpoint(self) -> None:
        """Write a checkpoint at the current ``(epoch, step_in_epoch)``; every process must call it.

        Every process hands its random state to rank 0, which writes them all: each process's noise
        continues where it stopped after a resume, which is what makes a resumed run equal an
        uninterrupted one. The weights and the optimiser state are the same on every process.
        """
        directory = self.checkpoint_dir
        if directory is None:
            return
        process_states = distributed.gather_objects(self._process_state(), self.place)
        if not self.is_main_process:
            return
        state = self._trainer_state(process_states)
        checkpoints.save_checkpoint(directory, self.epoch, self.model.state_dict(), state, step=self.step_in_epoch)
        checkpoints.remove_old_checkpoints(directory)  # the previous one stays: a fall-back if this one is damaged

    def _check_resumable(self, state: Mapping[str, Any], path: Path) -> None:
        """A resumed run must draw the same batches: seed, global batch size and data shards must not change."""
        saved_config = state.get("config", {})
        pairs = [(name, saved_config.get(name), getattr(self.config, name)) for name in ("seed", "batch_size")]
        pairs.append(("data_shards", state.get("data_shards", 1), self.data_shards))
        for setting, before, now in pairs:
            if before != now:
                raise checkpoints.CheckpointError(
                    f"{path}: checkpoint was trained with {setting}={before}, this run has {setting}={now}; "
                    "resuming would change the data order"
                )

    def _read_latest_checkpoint(self) -> dict[str, Any] | None:
        """Rank 0 reads the latest checkpoint (others may not see rank 0's disk); errors travel as messages."""
        directory = self.checkpoint_dir
        found = [] if directory is None else checkpoints.complete_checkpoints(directory)
        if not found:
            return None
        unreadable = []
        for latest in found:  # newest first: fall back to the previous checkpoint when the newest is damaged
            try:
                state = checkpoints.load_state(latest.state)
                weights = checkpoints.load_weights(latest.weights)
            except checkpoints.CheckpointError as error:
                unreadable.append(str(error))
                continue
            if unreadable:
                warnings.warn(
                    f"newest checkpoint unreadable ({'; '.join(unreadable)}); resuming from the previous one, "
                    f"{latest.state.name} (its epochs after that are trained again)",
                    stacklevel=3,
                )
            break
        else:
            return {"error": "no checkpoint can be read: " + "; ".join(unreadable)}
        try:
            self._check_resumable(state, latest.state)
            best_path = directory / checkpoints.BEST_WEIGHTS
            best = None
            if state["best_epoch"] is not None and best_path.is_file():
                best = checkpoints.load_weights(best_path)
        except checkpoints.CheckpointError as error:
            return {"error": str(error)}
        return {"state": state, "weights": weights, "best": best, "path": str(latest.weights)}

    def resume(self) -> bool:
        """Load the latest checkpoint in ``checkpoint_dir``; False when there is none. Every process must call it."""
        payload = self._read_latest_checkpoint() if self.is_main_process else None
        payload = distributed.broadcast_from_main(payload, self.place)
        if payload is None:
            return False
        if "error" in payload:
            raise checkpoints.CheckpointError(payload["error"])
        state = payload["state"]
        try:
            self.model.load_state_dict(payload["weights"])
        except RuntimeError as error:
            raise checkpoints.CheckpointError(
                f"{payload['path']}: the weights do not fit this model ({error})"
            ) from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state.get("step_in_epoch", 0))
        self.global_step = int(state["global_step"])
        self.history = list(state["history"])
        self.best_epoch = state["best_epoch"]
        self.best_value = state["best_value"]
        self.best_metrics = dict(state["best_metrics"])
        if payload["best"] is not None:
            self._best_state = {name: value.to(self.device) for name, value in payload["best"].items()}
        processes = state.get("processes") or [{"rng": state["rng"], "totals": {}, "samples": 0}]
        self._restore_process_state(processes)
        return True

    def _restore_process_state(self, processes: list[Mapping[str, Any]]) -> None:
        """Take this process's saved random state and epoch sums; re-seed if the number of processes changed.

        With another number of processes (allowed when ``data_shards`` stays) the saved random streams do
        not map onto the new processes: each is re-seeded from ``(seed, rank, global_step)``, so the data
        order is the same as before but the reparametrisation noise is not. The partial epoch's sums are
        added up on rank 0, which keeps the epoch's training averages right.
        """
        if len(processes) == self.place.world_size:
            mine = processes[self.place.rank]
            self._set_rng_state(mine["rng"])
            totals, samples = mine["totals"], mine["samples"]
        else:
            warnings.warn(
                f"checkpoint holds {len(processes)} process random states, this run has {self.place.world_size} "
                "processes: data order is kept, reparametrisation noise is re-seeded",
                stacklevel=3,
            )
            torch.manual_seed(distributed.rank_seed(self.config.seed + self.global_step, self.place.rank))
            totals, samples = {}, 0
            if self.is_main_process:
                for process in processes:
                    for name, value in process["totals"].items():
                        totals[name] = totals.get(name, 0.0) + value
                    samples += process["samples"]
        self._epoch_totals = {
            name: torch.tensor(value, dtype=torch.float64, device=self.device) for name, value in totals.items()
        }
        self._epoch_samples = int(samples)

    # ------------------------------------------------------------------ one epoch
    def beta_at(self, progress_epochs: float) -> float:
        """β after ``progress_epochs`` (fractional) epochs under the configured warm-up."""
        return warmup_beta(self.config.beta, self.config.beta_warmup_epochs, progress_epochs)

    def _check_finite(self, output: LossOutput, step: int) -> None:
        """Stop every process together when any one's loss is not finite (one alone would leave the others waiting)."""
        failed = distributed.ranks_with_flag(not bool(torch.isfinite(output.loss)), self.place, self.device)
        if not failed:
            return
        where = f"epoch {self.epoch + 1}, step {step + 1}"
        if self.place.is_distributed:
            where += f" on process(es) {failed} of {self.place.world_size}"
        terms = {name: round(value, 4) for name, value in output.detached_terms().items()}
        raise FloatingPointError(
            f"non-finite loss {float(output.loss.detach())} at {where}; this process's terms {terms}"
        )

    def _mid_epoch_checkpoint_due(self, n_batches: int) -> bool:
        every = self.config.checkpoint_every_steps
        return every is not None and self.global_step % every == 0 and self.step_in_epoch < n_batches

    def _train_epoch(self, loader: MultimodalLoader) -> tuple[dict[str, float], float]:
        """Train from ``step_in_epoch`` to the end of the epoch; the epoch's training means over all processes."""
        self.model.train()
        n_batches = len(loader)
        beta = self.beta_at(self.epoch + self.step_in_epoch / max(n_batches, 1))
        bar = tqdm(
            total=n_batches,
            initial=self.step_in_epoch,
            desc=f"epoch {self.epoch + 1}/{self.config.epochs}",
            disable=not self._show_progress(),
            leave=False,
            dynamic_ncols=True,
        )
        with bar:
            for batch in loader.batches(self.step_in_epoch):
                beta = self.beta_at(self.epoch + self.step_in_epoch / max(n_batches, 1))
                batch = batch.to(self.device)
                output = self._forward(batch.data, batch.mask, beta=beta)
                self._check_finite(output, self.step_in_epoch)
                self.optimizer.zero_grad(set_to_none=True)
                output.loss.backward()
                if self.config.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
                self.optimizer.step()
                self.global_step += 1
                self.step_in_epoch += 1
                size = batch.batch_size
                self._epoch_samples += size
                for name, value in {"loss": output.loss, **output.terms}.items():
                    self._epoch_totals[name] = self._epoch_totals.get(name, 0.0) + value.detach().double() * size
                bar.update(1)
                if not bar.disable:  # float() waits for the device; only pay for it when the bar shows
                    bar.set_postfix(loss=f"{float(output.loss.detach()):.3f}", refresh=False)
                if self._mid_epoch_checkpoint_due(n_batches):
                    self._save_checkpoint()
        local_sums = {name: float(total) for name, total in self._epoch_totals.items()}
        sums, n_samples = distributed.sum_across_processes(local_sums, self._epoch_samples, self.place)
        self._epoch_totals, self._epoch_samples, self.step_in_epoch = {}, 0, 0
        if n_samples == 0:
            raise ValueError("the training set is empty")
        return {name: total / n_samples for name, total in sums.items()}, beta

    # ------------------------------------------------------------------ evaluation
    def _evaluation_loader(self, data: BatchSource) -> MultimodalLoader:
        """This process's shard of ``data`` (every sample once over all processes), in order."""
        sampler = SequentialShardSampler(len(data), self.place.rank, self.place.world_size)
        return MultimodalLoader(data, self.process_batch_size, sampler)

    def _evaluate_loader(self, loader: MultimodalLoader, metric: ValidationMetric | None) -> dict[str, float]:
        """Means over all processes' shards: sums and counts are added up, then divided once."""
        n_local = len(loader.sampler)
        self.model.eval()
        try:
            with torch.no_grad():
                device_loader = DeviceLoader(loader, self.device)
                if metric is None:
                    sums, count = validation_sums(self.model, device_loader, beta=self.config.beta)
                elif not self.place.is_distributed:
                    return {name: float(value) for name, value in metric(self.model, device_loader).items()}
                else:
                    means = metric(self.model, device_loader) if n_local else {}
                    sums, count = {name: float(value) * n_local for name, value in means.items()}, n_local
        finally:
            self.model.train()
        sums, count = distributed.sum_across_processes(sums, count, self.place)
        if count == 0:
            raise ValueError("the validation set is empty")
        return {name: total / count for name, total in sums.items()}

    def evaluate(self, data: BatchSource, metric: ValidationMetric | None = None) -> dict[str, float]:
        """``metric`` (default: the loss terms at the final β) over ``data``, shared out over the processes.

        Every process must call it and gets the same numbers.
        """
        return self._evaluate_loader(self._evaluation_loader(data), metric)

    def _validate(self, loader: MultimodalLoader | None) -> dict[str, float]:
        if loader is None:
            return {}
        return self._evaluate_loader(loader, self.validation_metric)

    def _select(self, train_terms: Mapping[str, float], validation: Mapping[str, float]) -> None:
        """Update the best epoch with this epoch's metric (training terms when there is no validation set)."""
        source, label = (validation, "validation") if validation else (train_terms, "training")
        name = self.config.validation_metric
        if name not in source:
            raise KeyError(f"validation metric {name!r} is not among the {label} metrics {sorted(source)}")
        value = source[name]
        if self.config.is_better(value, self.best_value):
            self.best_value = value
            self.best_epoch = self.epoch
            self.best_metrics = dict(source)
            self._best_state = _copy_state(self.model)
            if self.checkpoint_dir is not None and self.is_main_process:
                checkpoints.save_weights(self.checkpoint_dir / checkpoints.BEST_WEIGHTS, self._best_state)

    # ------------------------------------------------------------------ the loop
    def _train_loader(self, train_data: BatchSource) -> MultimodalLoader:
        sampler = StratifiedShardSampler(
            presence_groups(train_data),
            seed=self.config.seed,
            round_size=self.data_shards,
            rank=self.place.rank,
            world_size=self.place.world_size,
        )
        return MultimodalLoader(train_data, self.process_batch_size, sampler)

    def _fit_epoch(self, train_loader: MultimodalLoader, validation_loader: MultimodalLoader | None) -> None:
        """One epoch: train, validate, choose the best, log, checkpoint."""
        started = time.perf_counter()
        train_loader.set_epoch(self.epoch)
        train_terms, beta = self._train_epoch(train_loader)
        validation = self._validate(validation_loader)
        self._select(train_terms, validation)
        self.epoch += 1
        record: dict[str, Any] = {
            "epoch": self.epoch,
            "step": self.global_step,
            "beta": beta,
            "learning_rate": self.learning_rate,
        }
        record.update({f"train/{name}": value for name, value in train_terms.items()})
        record.update({f"validation/{name}": value for name, value in validation.items()})
        record["seconds"] = round(time.perf_counter() - started, 3)
        self.history.append(record)
        if self.log_dir is not None and self.is_main_process:
            write_epoch_log(self.log_dir, self.history)
        self._decay_learning_rate_on_plateau()
        self._save_checkpoint()

    @property
    def learning_rate(self) -> float:
        """The optimiser's current learning rate (it changes only through :meth:`_decay_learning_rate_on_plateau`)."""
        return float(self.optimizer.param_groups[0]["lr"])

    def _epochs_since_best(self) -> int:
        """Epochs completed since the best one, not counting those of the β warm-up (see TrainerConfig)."""
        warmup_end = math.ceil(self.config.beta_warmup_epochs)
        since = self.epoch if self.best_epoch is None else self.epoch - 1 - self.best_epoch
        return max(0, min(since, self.epoch - warmup_end))

    def _decay_learning_rate_on_plateau(self) -> None:
        """Cut the learning rate after ``lr_decay_patience`` epochs without a better validation metric.

        The epochs since the last cut are read off the logged learning rates, and the rate itself lives in the
        optimiser state of the checkpoint, so a resumed run cuts at the same epochs as an uninterrupted one.
        """
        patience = self.config.lr_decay_patience
        if patience is None:
            return
        rates = [record.get("learning_rate") for record in self.history]
        since_cut = 0
        for rate in reversed(rates):
            if rate != rates[-1]:
                break
            since_cut += 1
        if min(self._epochs_since_best(), since_cut) >= patience:
            for group in self.optimizer.param_groups:
                group["lr"] = group["lr"] * self.config.lr_decay_factor

    def _should_stop_early(self) -> bool:
        patience = self.config.early_stopping_patience
        return patience is not None and self.best_epoch is not None and self._epochs_since_best() >= patience

    def fit(
        self,
        train_data: BatchSource,
        validation_data: BatchSource | None = None,
        resume: bool = False,
    ) -> FitResult:
        """Train for ``config.epochs`` epochs in total; with ``resume``, continue from the latest checkpoint.

        Without ``validation_data`` the best epoch is chosen on the training average of the named metric,
        and a custom validation metric is not allowed. Calling ``fit`` again on the same trainer continues
        from its current epoch (raise ``config.epochs`` first). With ``restore_best`` the model ends with the best
        epoch's weights; the last epoch's are in the last checkpoint. Under torchrun every process calls
        ``fit`` with the same arguments.
        """
        if validation_data is None and self.validation_metric is not None:
            raise ValueError("a custom validation metric needs validation data")
        resumed = resume and self.resume()
        if not resumed and self.epoch == 0 and self.step_in_epoch == 0:
            # The models draw their noise from torch's global generator; a fresh run starts it from the seed.
            torch.manual_seed(distributed.rank_seed(self.config.seed, self.place.rank))
        if self.checkpoint_dir is not None and self.is_main_process:
            checkpoints.atomic_write_json(self.checkpoint_dir / checkpoints.CONFIG_FILE, self.config.to_dict())
        train_loader = self._train_loader(train_data)
        validation_loader = None if validation_data is None else self._evaluation_loader(validation_data)
        with self._data_parallel():
            while self.epoch < self.config.epochs and not self._should_stop_early():
                self._fit_epoch(train_loader, validation_loader)
        if self.config.restore_best and self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        best_epoch = None if self.best_epoch is None else self.best_epoch + 1
        return FitResult(best_epoch, dict(self.best_metrics), list(self.history))
