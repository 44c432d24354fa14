"""The selection metric of the shipped files with and without their formula conditioning: the validation lists
(each validation spectrum against the 256 training-set structures nearest in mass, the lists ``fit-fragment-weight``
and ``fit-confidence`` use) ranked by the score annotation ranks by, fragment term included.

Conditioning only reorders the candidates of one formula, and these lists' decoys are MassBank structures, so it
should neither gain nor lose much here (``results/accuracy/formula_input.md``); this checks it on the files users
get.

    SPECVAE_DATA_DIR=... python benchmarks/conditioned_validation_lists.py MODEL.specvae TRAINING_SET.h5
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from specvae.formula_conditioning import model_formula_conditioning
from specvae.fragment_formulas import model_fragment_scoring
from specvae.fragment_weight_fit import _top, list_shares
from specvae.model_file import read_metadata
from specvae.validation_lists import formula_conditioned_list_scores, read_peaks, validation_lists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("training_set")
    parser.add_argument("--max-spectra", type=int, default=2000)
    arguments = parser.parse_args()
    metadata = read_metadata(arguments.model)
    fragments = model_fragment_scoring(metadata.training)
    conditioning = model_formula_conditioning(metadata.training)
    lists = validation_lists(arguments.model, arguments.training_set, n_nearest=256, max_spectra=arguments.max_spectra)
    data_dir = os.environ["SPECVAE_DATA_DIR"]
    files = [f"{data_dir}/massbank/massbank_{mode}.mgf.gz" for mode in ("positive", "negative")]
    shares = list_shares(
        lists, read_peaks(files, (one.identifier for one in lists.lists)), metadata.ion_mode, fragments
    )
    kept = [(one, share) for one, share in zip(lists.lists, shares, strict=True) if share is not None]
    subset = type(lists)([one for one, _ in kept], lists.formulas)
    fragment_terms = [-fragments.weight * share for _, share in kept]
    ordinary = [one.scores + term for (one, _), term in zip(kept, fragment_terms, strict=True)]
    print(f"{arguments.model} ({metadata.ion_mode}), {len(kept)} validation lists, top-1 / top-10", end=" ")
    print("(each skeleton by its best-scored structure):")
    print("| formula-conditioning weight | top-1 | top-10 |")
    print("|---|---|---|")
    for weight in sorted({0.0, 0.3, 0.5, conditioning.weight if conditioning else 0.0, 1.0}):
        scores = (
            ordinary
            if weight == 0
            else formula_conditioned_list_scores(
                arguments.model, arguments.training_set, subset, ordinary, fragment_terms, weight
            )
        )
        top1 = np.mean(
            [_top(s, one.skeletons, one.answer_skeleton, 1) for s, (one, _) in zip(scores, kept, strict=True)]
        )
        top10 = np.mean(
            [_top(s, one.skeletons, one.answer_skeleton, 10) for s, (one, _) in zip(scores, kept, strict=True)]
        )
        chosen = " (shipped)" if conditioning and weight == conditioning.weight else ""
        print(f"| {weight:g}{chosen} | {top1:.3f} | {top10:.3f} |")


if __name__ == "__main__":
    main()
