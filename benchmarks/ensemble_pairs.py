"""Validation retrieval of single models and of every ensemble of them (mean of probabilities and of logits).

All on the same validation spectra (the seed-0 draw of at most 2,000 that training uses), so rows compare:

    python benchmarks/ensemble_pairs.py TRAINING_SET.h5 MODE MODEL.specvae MODEL.specvae [MODEL.specvae ...]
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import torch

from specvae.model_file import load_model
from specvae.prediction import predict_fingerprint_probabilities, retrieval_ranks, retrieval_summary
from specvae.training import TrainingOptions, prepare_training_inputs


def _logit(probabilities: np.ndarray) -> np.ndarray:
    clipped = np.clip(probabilities, 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped))


def main(training_set: str, ion_mode: str, paths: list[str]) -> None:
    torch.set_num_threads(1)
    inputs = prepare_training_inputs(training_set, TrainingOptions(ion_mode=ion_mode, seed=0, progress=False))
    spectra, true_rows, candidates = (
        inputs.validation_spectra,
        inputs.validation_true_rows,
        inputs.validation_candidate_bits,
    )

    def summary(probabilities: np.ndarray) -> str:
        result = retrieval_summary(retrieval_ranks(probabilities.astype(np.float32), true_rows, candidates))
        return f"{result['retrieval_top1']:.3f} / {result['retrieval_top10']:.3f}"

    predictions = {path: predict_fingerprint_probabilities(load_model(path)[0], spectra) for path in paths}
    print(f"{ion_mode} mode, {len(true_rows)} validation spectra: top-1 / top-10")
    print("| members | mean of probabilities | mean of logits |")
    print("|---|---|---|")
    for size in range(1, len(paths) + 1):
        for members in itertools.combinations(paths, size):
            names = " + ".join(Path(path).stem for path in members)
            mean = np.mean([predictions[path] for path in members], axis=0)
            logits = 1 / (1 + np.exp(-np.mean([_logit(predictions[path]) for path in members], axis=0)))
            print(f"| {names} | {summary(mean)} | {summary(logits) if size > 1 else '–'} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
