#!/usr/bin/env bash
# Paired vs unpaired weighting of the SVAE/VAEVAE objectives on MNIST-Split at 1 % supervision: the fusion option
# weighting=paper (eq. 22 of the journal version: the expectations over paired and over each modality's unpaired
# samples weigh equally, the package default) against weighting=sample (every sample of a batch weighs 1/B, so
# the paired term of a batch with one paired sample weighs 1/100 of the batch). Same settings as the MNIST-Split
# grid (reproduce_mnist_split.sh): cpu-session budget (10 epochs on 20,000 training images), MLP networks
# (400 hidden units, latent size 16), one thread; seeds 0-4 (each seed draws its own validation split, paired
# share, initialisation and noise; both weightings see the same ones). The whole-digit oracle is trained once.
# Run from the repository root:
#
#     MMCORE_DATA_DIR=/path/to/data benchmarks/reproduce_mnist_split_weighting.sh [OUTPUT_DIR]
#
# Runs go to OUTPUT_DIR (default /tmp/mmcore-mnist-split-weighting); finished runs there are reused. Per-seed
# tables, every run's metrics.json and training log, and summary.md (mean and standard deviation over the seeds)
# are copied to benchmarks/results/mnist_split/weighting/.
set -euo pipefail

OUTPUT_DIR="${1:-/tmp/mmcore-mnist-split-weighting}"
RESULTS_DIR="benchmarks/results/mnist_split/weighting"
SEEDS=(0 1 2 3 4)
: "${MMCORE_DATA_DIR:?set MMCORE_DATA_DIR to the folder holding mnist/mnist.npz}"

mkdir -p "$OUTPUT_DIR"
started=$(date +%s)
python -c "
import torch; torch.set_num_threads(1)
from pathlib import Path
from mmcore.benchmarking.evaluation import OracleSource, mnist_oracle
oracle = mnist_oracle(OracleSource(Path('$OUTPUT_DIR/oracles')), None, verify=True)
print(f'MNIST oracle test accuracy {oracle.test_accuracy:.4f} (from cache: {oracle.from_cache})')
"
status=0
for seed in "${SEEDS[@]}"; do
    for weighting in paper sample; do
        grid="$weighting/seed$seed"
        mkdir -p "$OUTPUT_DIR/$weighting"
        python -m specvae_cli.mmcore_benchmark_cli mnist-split --models svae,vaevae --supervision 0.01 \
            --budget cpu-session --network mlp --hidden-dims 400 --latent-dim 16 --num-threads 1 \
            --model-option "weighting=$weighting" --seed "$seed" --oracle-dir "$OUTPUT_DIR/oracles" \
            -o "$OUTPUT_DIR/$grid" > "$OUTPUT_DIR/$grid.log" 2>&1 || status=$?
    done
done
echo "wall time: $(( $(date +%s) - started )) s (exit status $status)"

for weighting in paper sample; do
    for seed in "${SEEDS[@]}"; do
        grid="$OUTPUT_DIR/$weighting/seed$seed"
        target="$RESULTS_DIR/$weighting/seed$seed"
        mkdir -p "$target/runs"
        cp "$grid.log" "$target/grid.log"
        for file in results.csv results.md grid_config.json; do
            if [ -f "$grid/$file" ]; then cp "$grid/$file" "$target/"; fi
        done
        for run in "$grid"/runs/*/; do
            name=$(basename "$run")
            if [ -f "$run/metrics.json" ]; then cp "$run/metrics.json" "$target/runs/$name.metrics.json"; fi
            if [ -f "$run/training_log.csv" ]; then cp "$run/training_log.csv" "$target/runs/$name.training_log.csv"; fi
        done
    done
done
python - "$RESULTS_DIR" "${SEEDS[@]}" <<'PYTHON'
"""summary.md: per model and weighting, the mean and standard deviation over the seeds of each headline metric."""
import csv
import statistics
import sys
from pathlib import Path

results_dir, seeds = Path(sys.argv[1]), sys.argv[2:]
metrics = ["accuracy/from_top+bottom", "accuracy/from_top", "accuracy/from_bottom",
           "latent_accuracy/top+bottom", "test/loss", "best_epoch", "train_seconds"]
rows = {}
for weighting in ("paper", "sample"):
    for seed in seeds:
        with open(results_dir / weighting / f"seed{seed}" / "results.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["status"] in ("trained", "skipped"):
                    rows.setdefault((row["model"], weighting), []).append(row)
lines = [f"# MNIST-Split, 1 % supervision: weighting=paper vs weighting=sample (seeds {', '.join(seeds)})", "",
         "Mean ± standard deviation over the seeds; per-seed values in <weighting>/seed<n>/results.md.", "",
         "| model | weighting | runs | " + " | ".join(metrics) + " |", "|---|---|---|" + "---|" * len(metrics)]
for (model, weighting), group in sorted(rows.items()):
    cells = []
    for name in metrics:
        values = [float(row[name]) for row in group if row.get(name)]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        digits = 1 if name in ("test/loss", "best_epoch", "train_seconds") else 3
        cells.append(f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}" if values else "")
    lines.append(f"| {model} | {weighting} | {len(group)} | " + " | ".join(cells) + " |")
(results_dir / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
print("\n".join(lines))
PYTHON
exit "$status"
