"""Where an mmcore training step spends its time, and so how much faster than MultiVae it could ever be.

``bench_train_step.py`` compares mmcore with MultiVae on the same architectures (equal parameter counts). On fully
paired batches both libraries must run the same network work: the matrix products of every layer (``mm``,
``addmm``, ``bmm``), the ReLUs and their backward, and the Adam update of the same parameters. What a library can
cut is the rest, its "glue": the objective's own arithmetic (products of experts, KL terms, likelihoods,
reparameterisation, masks) and Python overhead. If the glue is a share ``g`` of mmcore's step, no change to it can
make mmcore faster than ``ratio / (1 - g)`` times MultiVae, where ``ratio`` is today's MultiVae / mmcore.

The step is timed (wall clock, median of blocks of 5 steps) with the optimizer and without it (forward + backward
alone, ``--optimizer none`` of ``bench_train_step.py``): the optimizer's share is the difference of the two. The
products' and activations' times are their operators' self CPU time in a torch.profiler run of forward + backward.
Everything else of the step, Python overhead between operators included, is glue.

    python benchmarks/profile_train_step.py --models jmvae,mmvae,mopoe,mvae --modalities 2,3 --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch
from bench_train_step import MODEL_OPTIONS, build_ours
from torch.profiler import ProfilerActivity, profile

_MATRIX_PRODUCTS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}
_ACTIVATIONS = {"aten::relu", "aten::clamp_min", "aten::threshold_backward"}


@dataclasses.dataclass
class StepProfile:
    step_ms: float  # with the Adam update
    forward_backward_ms: float
    products_ms: float
    activations_ms: float

    @property
    def glue_share(self) -> float:
        shared = self.products_ms + self.activations_ms + (self.step_ms - self.forward_backward_ms)
        return max(0.0, 1.0 - shared / self.step_ms)


def _step_ms(step, args: argparse.Namespace) -> float:
    """Median wall-clock milliseconds of one step (blocks of 5 steps), without the profiler."""
    blocks = []
    for _ in range(max(3, args.steps // 5)):
        start = time.perf_counter()
        for _ in range(5):
            step()
        blocks.append((time.perf_counter() - start) / 5 * 1000.0)
    return statistics.median(blocks)


def _kernel_ms(step, args: argparse.Namespace) -> dict[str, float]:
    """Self CPU milliseconds per step of the matrix products and of the activations (torch.profiler)."""
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(args.steps):
            step()
    events = profiler.key_averages()
    return {
        kind: sum(event.self_cpu_time_total for event in events if event.key in keys) / args.steps / 1000.0
        for kind, keys in (("products", _MATRIX_PRODUCTS), ("activations", _ACTIVATIONS))
    }


def profile_model(name: str, n_modalities: int, args: argparse.Namespace) -> StepProfile:
    dims = [392, 392] if n_modalities == 2 else [261, 261, 262]
    steps = {
        optimizer: build_ours(name, dims, 0.0, argparse.Namespace(**{**vars(args), "optimizer": optimizer})).step
        for optimizer in ("adam", "none")
    }
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    kernels = _kernel_ms(steps["none"], args)
    return StepProfile(
        _step_ms(steps["adam"], args), _step_ms(steps["none"], args), kernels["products"], kernels["activations"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="jmvae,mmvae,mopoe,mvae")
    parser.add_argument("--modalities", default="2,3")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch_size}, paired data, torch's Adam")
    print("| model | modalities | step ms | matrix products | ReLU | Adam update | glue | MultiVae/mmcore "
          "could reach at most |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        if name not in MODEL_OPTIONS:
            raise SystemExit(f"unknown model {name!r}; known: {', '.join(MODEL_OPTIONS)}")
        for n_modalities in (int(n) for n in args.modalities.split(",")):
            one = profile_model(name, n_modalities, args)
            print(
                f"| {name} | {n_modalities} | {one.step_ms:.1f} | {one.products_ms / one.step_ms:.0%} | "
                f"{one.activations_ms / one.step_ms:.0%} | {1 - one.forward_backward_ms / one.step_ms:.0%} | "
                f"{one.glue_share:.0%} | today's ratio × {1 / (1 - one.glue_share):.2f} |"
            )


if __name__ == "__main__":
    main()
