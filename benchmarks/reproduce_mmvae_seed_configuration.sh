#!/usr/bin/env bash
# MMVAE on MNIST-Split in the configuration of the seed's own MMVAE code (sgalkina/poe-vaes,
# mmvae_mnist_split: the MMVAE authors' code run with its defaults), to test whether that configuration explains
# the seed's very low MMVAE accuracies (Table 1: 0.539 / 0.221 / 0.283):
#   Laplace likelihood with fixed scale 0.75, Laplace posterior and prior, the plain ELBO of the mixture with one
#   sample (MMVAE's "elbo" objective, K = 1), latent size 20.
# Everything else as benchmarks/reproduce_mnist_split.sh (cpu-session budget, MLP 400), so that the rows compare
# with its tables; plus a 40-epoch run at batch 256 (the seed's MMVAE batch size). Run from the repository root:
#
#     MMCORE_DATA_DIR=/path/to/data benchmarks/reproduce_mmvae_seed_configuration.sh [OUTPUT_DIR]
#
# Reuses OUTPUT_DIR/oracles if reproduce_mnist_split.sh trained the oracle there. About 2 minutes on one core.
set -euo pipefail

OUTPUT_DIR="${1:-/tmp/mmcore-mnist-split}"
RESULTS_DIR="benchmarks/results/mnist_split/mmvae-seed-configuration"
: "${MMCORE_DATA_DIR:?set MMCORE_DATA_DIR to the folder holding mnist/mnist.npz}"
SEED_MMVAE=(--models mmvae --likelihood laplace --latent-dim 20 --network mlp --hidden-dims 400 --num-threads 1
            --model-option estimator=elbo --model-option posterior=laplace --model-option n_importance_samples=1
            --budget cpu-session --oracle-dir "$OUTPUT_DIR/oracles")

python -m specvae_cli.mmcore_benchmark_cli mnist-split "${SEED_MMVAE[@]}" --supervision 1.0,0.1,0.01 \
    -o "$OUTPUT_DIR/mmvae-seed-configuration" | tee "$OUTPUT_DIR/mmvae-seed-configuration.log"
python -m specvae_cli.mmcore_benchmark_cli mnist-split "${SEED_MMVAE[@]}" --supervision 1.0 --epochs 40 --batch-size 256 \
    -o "$OUTPUT_DIR/mmvae-seed-configuration-40-epochs" | tee "$OUTPUT_DIR/mmvae-seed-configuration-40-epochs.log"

for grid in mmvae-seed-configuration mmvae-seed-configuration-40-epochs; do
    if [ "$grid" = mmvae-seed-configuration ]; then target="$RESULTS_DIR/10-epochs"; else target="$RESULTS_DIR/40-epochs"; fi
    mkdir -p "$target/runs"
    cp "$OUTPUT_DIR/$grid.log" "$target/grid.log"
    for file in results.csv results.md accuracy_vs_supervision.png grid_config.json; do
        if [ -f "$OUTPUT_DIR/$grid/$file" ]; then cp "$OUTPUT_DIR/$grid/$file" "$target/"; fi
    done
    for run in "$OUTPUT_DIR/$grid"/runs/*/; do
        name=$(basename "$run")
        cp "$run/metrics.json" "$target/runs/$name.metrics.json"
        cp "$run/training_log.csv" "$target/runs/$name.training_log.csv"
    done
done
