"""Milliseconds per training step of each fusion model, on the setup the issue fixes.

Setup: batch 128, two 392-dimensional modalities (MNIST halves; ``--modalities 3`` splits 784 into
three parts), latent 16, encoders D→512→features and decoders latent→512→D (MLPs), Gaussian likelihood,
Adam. Each step is forward + backward + optimiser step; the median of ``--steps`` steps after
``--warmup`` steps is reported, with 0% and 50% of samples missing one modality.

Machines are noisy: compare medians, and compare against the reference figures side by side::

    python benchmarks/bench_train_step.py --threads 2 --steps 60 -o benchmarks/results/train_step.md
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from mmcore import Modality, build_model
from mmcore.likelihoods import GaussianLikelihood
from mmcore.models.base import UnpairedDataError
from mmcore.networks import MLP

# ms per step of a widely used multimodal VAE library on exactly this setup on this kind of machine
# (two modalities, no missing data), as quoted in the issue.
REFERENCE_MS = {"mvae": 24.9, "mopoe": 14.4, "mmvae": 72.5, "jmvae": 31.4}

MODEL_OPTIONS = {
    "mvae": {},
    "mopoe": {},
    "mmvae": {"estimator": "dreg", "n_importance_samples": 10},
    "jmvae": {},
    "svae": {},
    "vaevae": {},
}


def make_modalities(input_dims: list[int], latent_dim: int, hidden: int) -> list[Modality]:
    modalities = []
    for index, dim in enumerate(input_dims):
        encoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        decoder = MLP(latent_dim, [hidden], dim)
        modalities.append(Modality(f"m{index}", encoder, hidden, decoder, GaussianLikelihood()))
    return modalities


def make_batch(input_dims: list[int], batch_size: int, missing_share: float, seed: int):
    generator = torch.Generator().manual_seed(seed)
    data = {f"m{i}": torch.rand(batch_size, dim, generator=generator) for i, dim in enumerate(input_dims)}
    mask = {name: torch.ones(batch_size, dtype=torch.bool) for name in data}
    n_unpaired = int(round(missing_share * batch_size))
    # The unpaired samples each keep exactly one modality, assigned round-robin (the seed papers' protocol).
    for offset in range(n_unpaired):
        keep = offset % len(input_dims)
        for index, name in enumerate(data):
            if index != keep:
                mask[name][offset] = False
    return data, mask


def time_model(name: str, input_dims: list[int], missing_share: float, args: argparse.Namespace) -> float | None:
    torch.manual_seed(args.seed)
    modalities = make_modalities(input_dims, args.latent_dim, args.hidden)
    model = build_model(name, modalities, args.latent_dim, **MODEL_OPTIONS[name])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    data, mask = make_batch(input_dims, args.batch_size, missing_share, args.seed)
    durations = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        try:
            output = model(data, mask)
        except UnpairedDataError:
            return None
        output.loss.backward()
        optimizer.step()
        if step >= args.warmup:
            durations.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=",".join(MODEL_OPTIONS))
    parser.add_argument("-o", "--output", type=Path, help="write the Markdown table here too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    header = "| model | modalities | missing | ms/step (median) | reference ms | speed-up vs reference |"
    print(header)
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        for input_dims in ([392, 392], [261, 261, 262]):
            for missing_share in (0.0, 0.5):
                ms = time_model(name, input_dims, missing_share, args)
                reference = REFERENCE_MS.get(name) if len(input_dims) == 2 and missing_share == 0.0 else None
                ms_text = "n/a (paired data only)" if ms is None else f"{ms:.2f}"
                speedup = f"{reference / ms:.2f}×" if (reference and ms) else ""
                row = (
                    f"| {name} | {len(input_dims)} | {missing_share:.0%} | {ms_text} | "
                    f"{reference if reference else ''} | {speedup} |"
                )
                print(row, flush=True)
                rows.append(row)
    if args.output:
        command = "python benchmarks/bench_train_step.py " + " ".join(
            f"--{key.replace('_', '-')} {value}" for key, value in vars(args).items() if key != "output"
        )
        text = [
            "# Training step time per fusion model",
            "",
            f"Command: `{command} -o {args.output}`",
            f"torch {torch.__version__}, {args.threads} threads; batch {args.batch_size}, latent {args.latent_dim}, "
            f"MLP D→{args.hidden}→latent, Gaussian likelihood, Adam. Median of {args.steps} steps after "
            f"{args.warmup} warm-up steps. MMVAE uses DReG with K=10.",
            "",
            header,
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text("\n".join(text))


if __name__ == "__main__":
    main()
