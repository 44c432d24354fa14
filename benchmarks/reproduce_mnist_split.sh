#!/usr/bin/env bash
# Reproduce the MNIST-Split comparison of Kutuzova et al. 2021 (Table 1, Figure 6) within a CPU session:
# MNIST-Split with SVAE, VAEVAE, VAEVAE* and MMVAE, and MNIST-Split-3 with SVAE and VAEVAE, each fully
# supervised and at 10 % and 1 % supervision, under the cpu-session budget (10 of the seed's 200 epochs on
# 20,000 training images) with MLP networks (400 hidden units, latent size 16) instead of the seed's
# convolutional ones. The two grids run side by side, one CPU thread each; the whole-digit oracle is trained
# once before them. Run from the repository root:
#
#     MMCORE_DATA_DIR=/path/to/data benchmarks/reproduce_mnist_split.sh [OUTPUT_DIR]
#
# The runs (checkpoints, weights: a few hundred MB) go to OUTPUT_DIR (default /tmp/mmcore-mnist-split);
# the tables, plots, grid descriptions and every run's metrics.json are copied to benchmarks/results/mnist_split/.
set -euo pipefail

OUTPUT_DIR="${1:-/tmp/mmcore-mnist-split}"
RESULTS_DIR="benchmarks/results/mnist_split"
: "${MMCORE_DATA_DIR:?set MMCORE_DATA_DIR to the folder holding mnist/mnist.npz}"
COMMON=(--supervision 1.0,0.1,0.01 --budget cpu-session --network mlp --hidden-dims 400 --latent-dim 16
        --num-threads 1 --oracle-dir "$OUTPUT_DIR/oracles")

started=$(date +%s)
python -c "
import torch; torch.set_num_threads(1)
from pathlib import Path
from mmcore.benchmarking.evaluation import OracleSource, mnist_oracle
oracle = mnist_oracle(OracleSource(Path('$OUTPUT_DIR/oracles')), None, verify=True)
print(f'MNIST oracle test accuracy {oracle.test_accuracy:.4f} (from cache: {oracle.from_cache})')
"
python -m specvae_cli.mmcore_benchmark_cli mnist-split --models svae,vaevae,vaevae-star,mmvae "${COMMON[@]}" \
    -o "$OUTPUT_DIR/mnist-split" > "$OUTPUT_DIR/mnist-split.log" 2>&1 &
split2=$!
python -m specvae_cli.mmcore_benchmark_cli mnist-split-3 --models svae,vaevae "${COMMON[@]}" \
    -o "$OUTPUT_DIR/mnist-split-3" > "$OUTPUT_DIR/mnist-split-3.log" 2>&1 &
split3=$!
status=0
wait "$split2" || status=$?
wait "$split3" || status=$?
echo "wall time: $(( $(date +%s) - started )) s (exit status $status)"

for grid in mnist-split mnist-split-3; do
    mkdir -p "$RESULTS_DIR/$grid/runs"
    cp "$OUTPUT_DIR/$grid.log" "$RESULTS_DIR/$grid/grid.log"
    for file in results.csv results.md accuracy_vs_supervision.png grid_config.json; do
        if [ -f "$OUTPUT_DIR/$grid/$file" ]; then cp "$OUTPUT_DIR/$grid/$file" "$RESULTS_DIR/$grid/"; fi
    done
    for run in "$OUTPUT_DIR/$grid"/runs/*/; do
        name=$(basename "$run")
        if [ -f "$run/metrics.json" ]; then cp "$run/metrics.json" "$RESULTS_DIR/$grid/runs/$name.metrics.json"; fi
        if [ -f "$run/training_log.csv" ]; then cp "$run/training_log.csv" "$RESULTS_DIR/$grid/runs/$name.training_log.csv"; fi
    done
done
exit "$status"
