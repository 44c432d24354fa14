"""Score finished MNIST-Split runs the way the seed's MMVAE analysis script does, next to mmcore's metric.

The seed (Kutuzova et al. 2021) evaluated its PoE models and its MMVAE with two different scripts of its code
(sgalkina/poe-vaes). For the PoE models, "from both halves" decodes both halves from one sample of the joint
posterior, as ``mmcore.metrics.coherence.mnist_split_accuracy`` does. For MMVAE
(``mmvae_mnist_split/src/report/analyse_mnist_split.py``), "joint coherence" joins the top half decoded from
z ~ q(z | top) with the bottom half decoded from z ~ q(z | bottom): two self-reconstructions side by side, never a
joint posterior; and its "from top" uses the latent of the second encoder, which reads the bottom half (so the
seed's top and bottom MMVAE columns are swapped relative to its PoE columns).

This script loads each finished run of a grid folder, recomputes mmcore's three accuracies, and adds the seed's
MMVAE "both halves" number (``stitched self-reconstructions``) with the same oracle and test images. If a model
that reconstructs each half well scores high on it, the seed's 0.539 says its MMVAE reconstructed poorly.

::

    MMCORE_DATA_DIR=/data python benchmarks/mmvae_seed_evaluation.py RUN_GRID_DIR [RUN_GRID_DIR ...] \\
        --oracle-dir ORACLES -o benchmarks/results/mnist_split/mmvae-seed-configuration/seed_metric.md
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from mmcore.benchmarking.evaluation import OracleSource, evaluation_loader, mnist_oracle
from mmcore.benchmarking.training_run import MODEL_FILE, RUN_CONFIG_FILE, ModelSpec
from mmcore.benchmarks_setup import get_benchmark
from mmcore.data.mnist import MNIST_SPLIT_PARTS
from mmcore.metrics._evaluation import batches_on, evaluating, seeded
from mmcore.metrics.coherence import mnist_split_accuracy
from mmcore.metrics.oracles import ViewClassifier, joined_rows_view
from mmcore.training.checkpoint import load_weights_into


def load_run(run_dir: Path, splits) -> torch.nn.Module:
    """The trained model of one grid run, rebuilt from its run_config.json and model.safetensors."""
    settings = json.loads((run_dir / RUN_CONFIG_FILE).read_text())
    protocol = settings["protocol"]
    spec = ModelSpec(
        settings["benchmark"],
        settings["model"],
        protocol["latent_dim"],
        network=protocol["network"],
        hidden_dims=tuple(protocol["hidden_dims"]),
        likelihood=protocol.get("likelihood"),
        model_options=settings.get("model_options", {}),
    )
    model = spec.build(splits, seed=settings["seed"])
    load_weights_into(model, run_dir / MODEL_FILE)
    return model


def stitched_self_reconstruction_accuracy(model, loader, classify, seed: int = 0) -> float:
    """The seed's MMVAE "joint coherence": each half decoded from a posterior sample given that half alone."""
    correct = total = 0
    with evaluating(model), seeded(seed, torch.device("cpu")):
        for batch in batches_on(loader, torch.device("cpu"), need_labels=True):
            decoded = {}
            for name in model.modality_names:
                z = model.posterior({name: batch.data[name]}).rsample()
                decoded[name] = model.decode_mean(z, [name])[name]
            correct += int((classify(decoded) == batch.labels).sum())
            total += len(batch.labels)
    return correct / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grids", nargs="+", type=Path, help="Grid output folders (holding runs/*/model.safetensors).")
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("MMCORE_DATA_DIR"))
    parser.add_argument("--oracle-dir", type=Path, required=True)
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    splits = get_benchmark("mnist-split").load(args.data_dir, validation_size=5_000, seed=0, verify=True)
    oracle = mnist_oracle(OracleSource(args.oracle_dir), args.data_dir, verify=True)
    classify = ViewClassifier(oracle.classifier, joined_rows_view(MNIST_SPLIT_PARTS))
    loader = evaluation_loader(splits.test, 500)
    rows = []
    for grid in args.grids:
        for run_dir in sorted((grid / "runs").glob("*/")):
            if not (run_dir / "model.safetensors").exists():
                continue
            settings = json.loads((run_dir / "run_config.json").read_text())
            model = load_run(run_dir, splits)
            ours = mnist_split_accuracy(model, loader, classify, seed=0)
            stitched = stitched_self_reconstruction_accuracy(model, loader, classify)
            protocol = settings["protocol"]
            label = (
                f"{settings['model']} {json.dumps(settings.get('model_options', {}))} "
                f"likelihood {protocol.get('likelihood') or 'default'}, latent {protocol['latent_dim']}, "
                f"{settings['epochs']} epochs, supervision {settings['supervision']:g}"
            )
            rows.append((label, ours, stitched))
            print(label, ours, stitched, flush=True)
    lines = [
        "# MNIST-Split runs scored with the seed's MMVAE metric",
        "",
        "Command: `python benchmarks/mmvae_seed_evaluation.py "
        + " ".join(str(grid) for grid in args.grids)
        + " --oracle-dir ORACLES`; all 10,000 test images, one posterior sample (seed 0), "
        "the cached whole-digit oracle.",
        "",
        "| run | both halves (joint posterior, mmcore) | top | bottom "
        '| stitched self-reconstructions (seed\'s MMVAE "both") |',
        "|---|---|---|---|---|",
        *[
            f"| {label} | {ours['accuracy/from_top+bottom']:.3f} | {ours['accuracy/from_top']:.3f} | "
            f"{ours['accuracy/from_bottom']:.3f} | {stitched:.3f} |"
            for label, ours, stitched in rows
        ],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
