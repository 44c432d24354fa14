"""Choose the formula-conditioning weight of a model (``specvae fit-formula-weight``) on database-isomer lists.

Why these lists and not the validation lists the fragment weight is chosen on: conditioning only reorders the
candidates of one formula, and on lists whose decoys are the training set's own (measured) structures that order
is already the spectrum's to decide; on lists of database isomers (:mod:`specvae.isomer_lists`) it is what a user
with PubChem or ChemSpider candidates meets. Each weight ``w`` ranks a list by ``(1 − w) × ordinary + w ×
conditioned`` scores (within one formula exactly what
:func:`specvae.formula_conditioning.formula_conditioned_scores` ranks by), and the weight with the most answers at
rank 1 (expected rank, ties shared; the smaller weight on a tie) is chosen.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from specvae.errors import SpecvaeError
from specvae.formula_conditioning import FormulaConditioning, model_reads_formulas

WEIGHT_GRID = (0.0, 0.1, 0.3, 0.5, 0.7, 1.0)


class FormulaWeightError(SpecvaeError, ValueError):
    """A model that reads no formula, or no isomer list to choose on."""


def fit_formula_weight(
    model_path: str | os.PathLike[str],
    training_set_path: str | os.PathLike[str],
    library_smiles: Sequence[str],
    *,
    n_isomers: int = 99,
    max_spectra: int = 100_000,
    seed: int = 0,
    weights: Sequence[float] = WEIGHT_GRID,
    progress: bool = True,
) -> tuple[FormulaConditioning, dict[str, Any]]:
    """The chosen weight and a report (lists, the top-1 / top-10 share of every weight)."""
    import torch

    from specvae.benchmark.metrics import answer_rank
    from specvae.fingerprints import FingerprintDefinition
    from specvae.formula_features import formula_feature_matrix
    from specvae.isomer_lists import isomer_lists
    from specvae.model_file import load_model
    from specvae.pipeline.prediction import one_torch_thread, predict_in_canonical_batches
    from specvae.ranking import score_candidates
    from specvae.training_set_reader import TrainingSet

    model, metadata = load_model(model_path)
    if not model_reads_formulas(model):
        raise FormulaWeightError(f"{model_path}: no network of this model reads formulas")
    definition = FingerprintDefinition.from_dict(metadata.fingerprint)
    lists = isomer_lists(
        training_set_path, metadata.ion_mode, definition, library_smiles,
        n_isomers=n_isomers, max_spectra=max_spectra, seed=seed, progress=progress,
    )  # fmt: skip
    if not lists:
        raise FormulaWeightError(f"{training_set_path}: no validation structure has enough isomers in the library")
    data = TrainingSet.load(training_set_path, metadata.ion_mode)
    binned = data.spectra[np.array([one.spectrum_row for one in lists])]
    ordinary = predict_in_canonical_batches(model, binned)
    pairs = []
    for position, one in enumerate(lists):
        spectrum = torch.from_numpy(binned[position].toarray().astype(np.float32))
        with one_torch_thread():
            block = torch.from_numpy(formula_feature_matrix([one.formula]))
            conditioned = model.probabilities_under_formulas(spectrum, block)[0].numpy()
        pairs.append((score_candidates(ordinary[position], one.bits), score_candidates(conditioned, one.bits)))
    table = []
    for weight in weights:
        ranks = []
        for plain, conditioned in pairs:
            is_answer = np.zeros(len(plain), dtype=bool)
            is_answer[0] = True
            ranks.append(answer_rank((1 - weight) * plain + weight * conditioned, is_answer))
        table.append(
            {
                "weight": float(weight),
                "top1": float(np.mean([rank.within(1) for rank in ranks])),
                "top10": float(np.mean([rank.within(10) for rank in ranks])),
            }
        )
    best = max(table, key=lambda row: (row["top1"], -row["weight"]))
    chosen_on = f"{len(lists)} validation spectra of {os.fspath(training_set_path)} vs up to {n_isomers} isomers"
    report = {"n_lists": len(lists), "n_isomers": n_isomers, "seed": seed, "table": table}
    return FormulaConditioning(best["weight"], chosen_on=chosen_on), report
