"""Parameter counts of the models of a benchmark grid, built as the grid builds them.

Reads ``grid_config.json`` of a grid's output folder (benchmark, models, latent size, networks) and builds each
model with :class:`~mmcore.benchmarking.training_run.ModelSpec`, the constructor every grid cell uses. Writes
``parameters.json`` and ``parameters.md`` (total, encoder side, decoders) into ``--output-dir`` (default: the
grid folder) and prints the table. The encoder side is everything but the decoders: unimodal experts,
replacement experts, subset networks.

    python benchmarks/model_parameters.py OUT/mnist-split-3 --output-dir benchmarks/results/mnist_split3

Benchmarks whose networks depend on the loaded data (CUB's vocabulary) are refused: their sizes are not in
``grid_config.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from mmcore.atomic import atomic_write_text
from mmcore.benchmarking.training_run import ModelSpec

DATA_DEPENDENT_NETWORKS = ("cub",)
DECODER_PREFIX = "decoders."


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Total parameters, and how many belong to the decoders and to everything else (the encoder side)."""
    decoders = sum(p.numel() for name, p in model.named_parameters() if name.startswith(DECODER_PREFIX))
    total = sum(p.numel() for p in model.parameters())
    return {"total": total, "encoders": total - decoders, "decoders": decoders}


def grid_parameter_counts(grid_config: dict) -> dict[str, dict[str, int]]:
    """One :func:`parameter_counts` per model of a grid, from the grid's ``grid_config.json`` contents."""
    benchmark = grid_config["benchmark"]
    if benchmark in DATA_DEPENDENT_NETWORKS:
        raise ValueError(f"{benchmark}: network sizes depend on the loaded data; count them from a trained run")
    protocol = grid_config["protocol"]
    counts = {}
    for model_name in grid_config["models"]:
        spec = ModelSpec(
            benchmark,
            model_name,
            protocol["latent_dim"],
            network=protocol["network"],
            hidden_dims=tuple(protocol["hidden_dims"]),
            likelihood=protocol["likelihood"],
        )
        counts[model_name] = parameter_counts(spec.build(None, seed=0))  # type: ignore[arg-type]
    return counts


def markdown_table(counts: dict[str, dict[str, int]]) -> str:
    lines = ["| model | parameters | encoder side | decoders |", "|---|---|---|---|"]
    for model_name, count in counts.items():
        lines.append(f"| {model_name} | {count['total']:,} | {count['encoders']:,} | {count['decoders']:,} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("grid_dir", type=Path, help="a grid's output folder (holding grid_config.json)")
    parser.add_argument("--output-dir", type=Path, help="where parameters.json/.md go (default: grid_dir)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    grid_config = json.loads((args.grid_dir / "grid_config.json").read_text(encoding="utf-8"))
    counts = grid_parameter_counts(grid_config)
    output_dir = args.output_dir or args.grid_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output_dir / "parameters.json", json.dumps(counts, indent=2) + "\n")
    table = markdown_table(counts)
    atomic_write_text(output_dir / "parameters.md", table)
    print(table, end="")


if __name__ == "__main__":
    main()
