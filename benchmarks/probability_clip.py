"""What the clip of the predicted bit probabilities is worth for ranking, on the validation lists.

A candidate's fingerprint score sums ``log p`` over its set bits and ``log(1 − p)`` over the others, with ``p``
clipped to ``[eps, 1 − eps]`` (:func:`specvae.ranking.log_odds_weights`, ``eps`` = 1e-6). A larger clip bounds
what one confidently wrong bit can cost a candidate, which can make the ranking more robust or blunter. This script
ranks the validation lists (each validation spectrum against the 256 training structures nearest in mass, the
lists ``fit-fragment-weight`` uses) with several clips, with and without the model's fragment-formula term:

    SPECVAE_DATA_DIR=... python benchmarks/probability_clip.py MODEL.specvae TRAINING_SET.h5 --eps 1e-6,1e-3,1e-2
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import specvae.ranking as ranking
from specvae.fragment_formulas import model_fragment_scoring
from specvae.fragment_weight_fit import _top, list_shares
from specvae.model_file import read_metadata
from specvae.validation_lists import read_peaks, validation_lists


def lists_with_clip(model: str, training_set: str, eps: float, max_spectra: int):
    """The validation lists scored with probabilities clipped at ``eps`` (the library's clip swapped for the call)."""
    library_clip = ranking.log_odds_weights
    ranking.log_odds_weights = lambda probabilities, *_: library_clip(probabilities, eps)
    try:
        return validation_lists(model, training_set, n_nearest=256, max_spectra=max_spectra, seed=0)
    finally:
        ranking.log_odds_weights = library_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("training_set")
    parser.add_argument("--eps", default="1e-6,1e-3,1e-2,3e-2,0.1")
    parser.add_argument("--max-spectra", type=int, default=2000)
    arguments = parser.parse_args()
    metadata = read_metadata(arguments.model)
    scoring = model_fragment_scoring(metadata.training)
    weights = (0.0,) if scoring is None else (0.0, scoring.weight)
    data_dir = os.environ["SPECVAE_DATA_DIR"]
    massbank = [f"{data_dir}/massbank/massbank_{mode}.mgf.gz" for mode in ("positive", "negative")]
    shares = None
    print(f"{arguments.model} ({metadata.ion_mode}): validation lists top-1 / top-10")
    print("| clip eps | " + " | ".join(f"fragment weight {weight:g}" for weight in weights) + " |")
    print("|---" * (len(weights) + 1) + "|")
    for eps in (float(text) for text in arguments.eps.split(",")):
        lists = lists_with_clip(arguments.model, arguments.training_set, eps, arguments.max_spectra)
        if shares is None and scoring is not None:  # the same spectra and candidates for every clip
            peaks = read_peaks(massbank, (one.identifier for one in lists.lists))
            shares = list_shares(lists, peaks, metadata.ion_mode, scoring)
        cells = []
        for weight in weights:
            tops = [
                [_top(one.scores - weight * share, one.skeletons, one.answer_skeleton, k) for k in (1, 10)]
                for one, share in zip(lists.lists, shares or [0.0] * len(lists.lists), strict=True)
                if share is not None
            ]
            top1, top10 = np.mean(tops, axis=0)
            cells.append(f"{top1:.3f} / {top10:.3f}")
        print(f"| {eps:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
