#!/usr/bin/env bash
# MNIST-Split, fully supervised, closer to the seed's protocol than the cpu-session grid: all 50,000 training
# images (10,000 held out for validation), 40 of the seed's 200 epochs (--budget 0.2), latent size 64 as the seed's
# PoE models; still MLP networks (400 units) instead of its convolutional ones. SVAE, VAEVAE, MMVAE with the package
# defaults (looser DReG bound, K = 10), and MMVAE in the seed's own MMVAE configuration (Laplace likelihood with
# scale 0.75, Laplace posterior, ELBO with K = 1, latent 20; see reproduce_mmvae_seed_configuration.sh).
# The four runs go two at a time, one CPU thread each (the default MMVAE alone takes about 40 minutes on one core).
#
#     MMCORE_DATA_DIR=/path/to/data benchmarks/reproduce_mnist_split_full_data.sh [OUTPUT_DIR]
#
# Finished runs in OUTPUT_DIR are reused. Tables and metrics go to benchmarks/results/mnist_split/full-data-40-epochs/.
set -euo pipefail

OUTPUT_DIR="${1:-/tmp/mmcore-mnist-split-full}"
RESULTS_DIR="benchmarks/results/mnist_split/full-data-40-epochs"
: "${MMCORE_DATA_DIR:?set MMCORE_DATA_DIR to the folder holding mnist/mnist.npz}"
COMMON=(--supervision 1.0 --budget 0.2 --network mlp --hidden-dims 400 --num-threads 1
        --oracle-dir "$OUTPUT_DIR/oracles")
SEED_MMVAE=(--likelihood laplace --latent-dim 20 --model-option estimator=elbo --model-option posterior=laplace
            --model-option n_importance_samples=1)

run() {  # run NAME ARGS...: one grid into OUTPUT_DIR/NAME, its log next to it
    local name=$1
    shift
    python -m specvae_cli.mmcore_benchmark_cli mnist-split "${COMMON[@]}" "$@" -o "$OUTPUT_DIR/$name" > "$OUTPUT_DIR/$name.log" 2>&1
}

mkdir -p "$OUTPUT_DIR"
run mmvae --models mmvae --latent-dim 64 &
first=$!
{ run svae --models svae --latent-dim 64 && run vaevae --models vaevae --latent-dim 64 \
    && run mmvae-seed-configuration --models mmvae "${SEED_MMVAE[@]}"; } &
second=$!
status=0
wait "$first" || status=$?
wait "$second" || status=$?

for name in svae vaevae mmvae mmvae-seed-configuration; do
    mkdir -p "$RESULTS_DIR/$name"
    cp "$OUTPUT_DIR/$name.log" "$RESULTS_DIR/$name/grid.log"
    for file in results.csv results.md grid_config.json; do
        if [ -f "$OUTPUT_DIR/$name/$file" ]; then cp "$OUTPUT_DIR/$name/$file" "$RESULTS_DIR/$name/"; fi
    done
    for run_dir in "$OUTPUT_DIR/$name"/runs/*/; do
        if [ -f "$run_dir/metrics.json" ]; then cp "$run_dir/metrics.json" "$RESULTS_DIR/$name/metrics.json"; fi
        if [ -f "$run_dir/training_log.csv" ]; then cp "$run_dir/training_log.csv" "$RESULTS_DIR/$name/training_log.csv"; fi
    done
done
exit "$status"
