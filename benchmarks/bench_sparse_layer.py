"""Training step of the spectrum↔fingerprint model with a sparse first layer against a dense one.

Both models are identical (same fusion model, sizes and initial weights) except for the spectrum encoders'
first layer: :class:`specvae.sparse_linear.SparseLinear` reads only the non-zero bins, ``nn.Linear`` multiplies
every bin. Spectra are synthetic with the peak count of real MassBank spectra (``--peaks``, default 30 — the
median of the prepared training set is close to that), on the 0.1 Da grid up to 1,000 Da (10,000 bins).

    python benchmarks/bench_sparse_layer.py --threads 1 --steps 40 -o benchmarks/results/sparse_layer.md
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from specvae.architecture import FINGERPRINT, SPECTRUM, ArchitectureConfig, build_spectrum_fingerprint_model
from specvae.sparse_linear import SparseLinear


def densified(model: nn.Module) -> nn.Module:
    """The same model with every SparseLinear replaced by an nn.Linear holding the same weights."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, SparseLinear):
                dense = nn.Linear(child.in_features, child.out_features)
                with torch.no_grad():
                    dense.weight.copy_(child.weight.T)
                    dense.bias.copy_(child.bias)
                setattr(parent, name, dense)
    return model


def make_batch(batch_size: int, n_bins: int, n_bits: int, peaks: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    spectra = torch.zeros(batch_size, n_bins)
    for row in range(batch_size):
        spectra[row, torch.randperm(n_bins, generator=generator)[:peaks]] = torch.rand(peaks, generator=generator)
    fingerprints = (torch.rand(batch_size, n_bits, generator=generator) < 0.05).float()
    mask = {SPECTRUM: torch.ones(batch_size, dtype=torch.bool), FINGERPRINT: torch.ones(batch_size, dtype=torch.bool)}
    return {SPECTRUM: spectra, FINGERPRINT: fingerprints}, mask


def step_times(model: nn.Module, data, mask, steps: int, warmup: int) -> list[float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        model(data, mask).loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return times


def layer_step_ms(layer: nn.Module, spectra: torch.Tensor, steps: int, warmup: int) -> float:
    """Median ms of forward + backward of the layer alone (its weight gradient; no input gradient)."""
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        layer.zero_grad(set_to_none=True)
        layer(spectra).sum().backward()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--peaks", type=int, default=30)
    parser.add_argument("--fusion", default="svae")
    parser.add_argument("--hidden-dim", type=int, default=192)
    parser.add_argument("--latent-dim", type=int, default=64)
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = ArchitectureConfig(
        n_bins=10_000,
        n_fingerprint_bits=2188,
        fusion=args.fusion,
        latent_dim=args.latent_dim,
        hidden_dim=args.hidden_dim,
    )
    torch.manual_seed(0)
    sparse_model = build_spectrum_fingerprint_model(config)
    torch.manual_seed(0)
    dense_model = densified(build_spectrum_fingerprint_model(config))  # same initial weights, dense layout
    data, mask = make_batch(args.batch_size, config.n_bins, config.n_fingerprint_bits, args.peaks, seed=0)
    # Alternate the two so that load changes on this shared machine hit both alike.
    sparse_times, dense_times = [], []
    for _ in range(2):
        sparse_times += step_times(sparse_model, data, mask, args.steps // 2, args.warmup)
        dense_times += step_times(dense_model, data, mask, args.steps // 2, args.warmup)
    sparse_ms = 1000 * statistics.median(sparse_times)
    dense_ms = 1000 * statistics.median(dense_times)
    sparse_layer_ms, dense_layer_ms = (
        layer_step_ms(layer, data[SPECTRUM], args.steps, args.warmup)
        for layer in (SparseLinear(config.n_bins, args.hidden_dim), nn.Linear(config.n_bins, args.hidden_dim))
    )
    lines = [
        "| first layer | ms per model training step (median) | ratio | ms per layer forward+backward | ratio |",
        "|---|---|---|---|---|",
        f"| SparseLinear (non-zero bins only) | {sparse_ms:.1f} | {dense_ms / sparse_ms:.2f}× | "
        f"{sparse_layer_ms:.2f} | {dense_layer_ms / sparse_layer_ms:.1f}× |",
        f"| nn.Linear (all 10,000 bins) | {dense_ms:.1f} | 1.00× | {dense_layer_ms:.2f} | 1.0× |",
    ]
    print("\n".join(lines))
    if args.output:
        command = (
            f"python benchmarks/bench_sparse_layer.py --threads {args.threads} --steps {args.steps} "
            f"--peaks {args.peaks} --fusion {args.fusion} --hidden-dim {args.hidden_dim} -o {args.output}"
        )
        text = [
            "# Sparse versus dense first layer of the spectrum encoders",
            "",
            f"Command: `{command}`",
            "",
            f"Full training step (forward, backward, Adam) of the {args.fusion} spectrum↔fingerprint model: batch "
            f"{args.batch_size}, 10,000 bins (0.1 Da to 1,000 Da) with {args.peaks} peaks per spectrum, "
            f"{config.n_fingerprint_bits} fingerprint bits, hidden {args.hidden_dim}, latent {args.latent_dim}; "
            f"torch {torch.__version__}, {args.threads} thread(s); median of {2 * (args.steps // 2)} steps each, "
            "the two models alternating. The rest of the step (spectrum decoder, fingerprint side) is the same in "
            "both, so the ratio understates the gain of the layer alone.",
            "",
            *lines,
            "",
        ]
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text("\n".join(text))


if __name__ == "__main__":
    main()
