#!/usr/bin/env bash
# MNIST-Split-3 (MNIST rows 0-8, 9-17, 18-27 as three modalities; Kutuzova et al., journal version, Figure 7):
# SVAE, VAEVAE, MoPoE, MVAE and MMVAE, fully supervised and at 10 % and 1 % supervision, in about an hour of one
# CPU core: 5 epochs for every model on 20,000 training images (cpu-session budget otherwise: validation 5,000,
# all 10,000 test images), MLP networks (400 hidden units, latent size 16), one seed, one thread. MMVAE takes
# about half of the time (DReG with K = 10 importance samples). The whole-digit oracle is trained once first.
# Then SVAE and VAEVAE, the two models of the seed's claim, again with seeds 1 and 2 (about 20 minutes each), and
# seeds/summary.md: their mean, spread and per-seed difference over seeds 0-2.
# Run from the repository root:
#
#     MMCORE_DATA_DIR=/path/to/data benchmarks/reproduce_mnist_split3.sh [OUTPUT_DIR]
#
# Runs (checkpoints, weights) go to OUTPUT_DIR (default /tmp/mmcore-mnist-split3); finished runs there are
# reused. The tables, plot, grid description, parameter counts and every run's metrics.json and training log are
# copied to benchmarks/results/mnist_split3/.
set -euo pipefail

OUTPUT_DIR="${1:-/tmp/mmcore-mnist-split3}"
RESULTS_DIR="benchmarks/results/mnist_split3"
: "${MMCORE_DATA_DIR:?set MMCORE_DATA_DIR to the folder holding mnist/mnist.npz}"
GRID="$OUTPUT_DIR/mnist-split-3"
EXTRA_SEEDS=(1 2)

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
python -m specvae_cli.mmcore_benchmark_cli mnist-split-3 --models svae,vaevae,mopoe,mvae,mmvae \
    --supervision 1.0,0.1,0.01 --budget cpu-session --epochs 5 --network mlp --hidden-dims 400 --latent-dim 16 \
    --num-threads 1 --oracle-dir "$OUTPUT_DIR/oracles" -o "$GRID" > "$OUTPUT_DIR/mnist-split-3.log" 2>&1 || status=$?
echo "grid wall time: $(( $(date +%s) - started )) s (exit status $status)"
for seed in "${EXTRA_SEEDS[@]}"; do
    python -m specvae_cli.mmcore_benchmark_cli mnist-split-3 --models svae,vaevae --seed "$seed" \
        --supervision 1.0,0.1,0.01 --budget cpu-session --epochs 5 --network mlp --hidden-dims 400 --latent-dim 16 \
        --num-threads 1 --oracle-dir "$OUTPUT_DIR/oracles" -o "$OUTPUT_DIR/seed$seed" \
        > "$OUTPUT_DIR/seed$seed.log" 2>&1 || status=$?
done
echo "wall time: $(( $(date +%s) - started )) s (exit status $status)"

mkdir -p "$RESULTS_DIR/runs"
python benchmarks/model_parameters.py "$GRID" --output-dir "$RESULTS_DIR"
cp "$OUTPUT_DIR/mnist-split-3.log" "$RESULTS_DIR/grid.log"
for file in results.csv results.md accuracy_vs_supervision.png grid_config.json; do
    if [ -f "$GRID/$file" ]; then cp "$GRID/$file" "$RESULTS_DIR/"; fi
done
for run in "$GRID"/runs/*/; do
    name=$(basename "$run")
    if [ -f "$run/metrics.json" ]; then cp "$run/metrics.json" "$RESULTS_DIR/runs/$name.metrics.json"; fi
    if [ -f "$run/training_log.csv" ]; then cp "$run/training_log.csv" "$RESULTS_DIR/runs/$name.training_log.csv"; fi
done
for seed in "${EXTRA_SEEDS[@]}"; do
    target="$RESULTS_DIR/seeds/seed$seed"
    mkdir -p "$target/runs"
    cp "$OUTPUT_DIR/seed$seed.log" "$target/grid.log"
    for file in results.csv results.md grid_config.json; do
        if [ -f "$OUTPUT_DIR/seed$seed/$file" ]; then cp "$OUTPUT_DIR/seed$seed/$file" "$target/"; fi
    done
    for run in "$OUTPUT_DIR/seed$seed"/runs/*/; do
        name=$(basename "$run")
        if [ -f "$run/metrics.json" ]; then cp "$run/metrics.json" "$target/runs/$name.metrics.json"; fi
    done
done
python - "$RESULTS_DIR" "${EXTRA_SEEDS[@]}" <<'PYTHON'
"""seeds/summary.md: SVAE and VAEVAE over seed 0 (the grid) and the extra seeds, and SVAE − VAEVAE per seed."""
import csv
import statistics
import sys
from pathlib import Path

results_dir, extra_seeds = Path(sys.argv[1]), sys.argv[2:]
tables = {"0": results_dir / "results.csv"}
tables.update({seed: results_dir / "seeds" / f"seed{seed}" / "results.csv" for seed in extra_seeds})
metrics = ["accuracy/from_top+middle+bottom", "accuracy/from_top", "accuracy/from_middle", "accuracy/from_bottom"]
values = {}  # (model, supervision, metric) -> {seed: value}
for seed, path in tables.items():
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["model"] in ("svae", "vaevae") and row["status"] in ("trained", "skipped"):
                for name in metrics:
                    values.setdefault((row["model"], float(row["supervision"]), name), {})[seed] = float(row[name])
seeds = list(tables)
lines = [f"# MNIST-Split-3, SVAE and VAEVAE over seeds {', '.join(seeds)}", "",
         "Mean ± standard deviation over the seeds; last rows: SVAE − VAEVAE per seed (" + ", ".join(seeds) + ").",
         "", "| model | supervision | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
for model in ("svae", "vaevae"):
    for level in (1.0, 0.1, 0.01):
        cells = []
        for name in metrics:
            found = list(values.get((model, level, name), {}).values())
            spread = statistics.stdev(found) if len(found) > 1 else 0.0
            cells.append(f"{statistics.mean(found):.3f} ± {spread:.3f}" if found else "")
        lines.append(f"| {model} | {level:g} | " + " | ".join(cells) + " |")
for level in (1.0, 0.1, 0.01):
    cells = []
    for name in metrics:
        svae, vaevae = values.get(("svae", level, name), {}), values.get(("vaevae", level, name), {})
        cells.append(" / ".join(f"{svae[seed] - vaevae[seed]:+.3f}" for seed in seeds if seed in svae and seed in vaevae))
    lines.append(f"| SVAE − VAEVAE | {level:g} | " + " | ".join(cells) + " |")
(results_dir / "seeds" / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
print("\n".join(lines))
PYTHON
exit "$status"
