"""Choose the weight and tolerance of the fragment-formula score on validation retrieval
(``specvae fit-fragment-weight``).

Each validation spectrum is ranked against its mass-nearest structures of the training set
(:mod:`specvae.validation_lists`), by ``fingerprint score - weight × unexplained share``
(:mod:`specvae.fragment_formulas`) for every weight of a grid and every fragment m/z tolerance of another; the
setting that puts the most answers first wins (ties: the most in the top 10, then the smaller weight, then the
wider tolerance). The tolerance is chosen on data because it depends on the instruments the spectra came from.
The peaks come from the spectrum files the training set was prepared from: the training set keeps binned spectra
only, and sub-formulas need exact m/z.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from specvae.adducts import default_adduct, parse_adduct
from specvae.confidence import rank_one_correctness
from specvae.errors import SpecvaeError
from specvae.fragment_formulas import DEFAULT_PPM, FragmentFormulaScoring, tolerance_floor_da, unexplained_shares
from specvae.validation_lists import ValidationLists, read_peaks, validation_lists

WEIGHT_GRID = (0.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)


class FragmentWeightError(SpecvaeError, ValueError):
    """A fit that cannot be made: no validation spectrum found in the spectrum files."""


def list_shares(
    lists: ValidationLists,
    peaks: dict[str, tuple[np.ndarray, np.ndarray, float]],
    ion_mode: str,
    scoring: FragmentFormulaScoring,
) -> list[np.ndarray | None]:
    """The unexplained share of each candidate of each list (None for a list whose spectrum has no peaks here)."""
    shares: list[np.ndarray | None] = []
    for one in lists.lists:
        if one.identifier not in peaks:
            shares.append(None)
            continue
        try:
            adduct = parse_adduct(one.adduct) if one.adduct else default_adduct(ion_mode)
        except ValueError:
            adduct = default_adduct(ion_mode)
        mzs, intensities, precursor_mz = peaks[one.identifier]
        formulas = [lists.formulas[row] for row in one.candidates]
        shares.append(unexplained_shares(formulas, [adduct] * len(formulas), mzs, intensities, precursor_mz, scoring))
    return shares


def _top(scores: np.ndarray, one_skeletons: list[str], answer: str, k: int) -> float:
    best: dict[str, float] = {}
    for score, skeleton in zip(scores, one_skeletons, strict=True):
        best[skeleton] = max(best.get(skeleton, -np.inf), float(score))
    answer_score = best[answer]
    better = sum(score > answer_score for score in best.values())
    return float(better < k)


def weight_table(
    lists: ValidationLists, shares: Sequence[np.ndarray | None], grid: Sequence[float] = WEIGHT_GRID
) -> list[dict[str, float]]:
    """For each weight: the share of lists whose answer is first (ties shared) and within the top 10 skeletons."""
    used = [(one, share) for one, share in zip(lists.lists, shares, strict=True) if share is not None]
    if not used:
        raise FragmentWeightError("no validation spectrum of the training set was found in the spectrum files")
    table = []
    for weight in grid:
        top1, top10 = 0.0, 0.0
        for one, share in used:
            scores = one.scores - weight * share
            top1 += rank_one_correctness(scores, one.skeletons, one.answer_skeleton)
            top10 += _top(scores, one.skeletons, one.answer_skeleton, 10)
        table.append({"weight": float(weight), "top1": top1 / len(used), "top10": top10 / len(used)})
    return table


def best_setting(table: Sequence[dict[str, float]]) -> dict[str, float]:
    """The row with the highest top-1 share, then top-10 share, then the smallest weight, then the widest tolerance
    (rows without a ``ppm`` count as one tolerance)."""
    return max(table, key=lambda row: (row["top1"], row["top10"], -row["weight"], row.get("ppm", 0.0)))


def best_weight(table: Sequence[dict[str, float]]) -> float:
    """The weight of :func:`best_setting`."""
    return best_setting(table)["weight"]


def fit_fragment_weight_on_training_set(
    model_path: str | os.PathLike[str],
    training_set_path: str | os.PathLike[str],
    spectrum_files: Sequence[str | os.PathLike[str]],
    *,
    n_nearest: int = 256,
    max_spectra: int = 2000,
    seed: int = 0,
    ppm_grid: Sequence[float] = (DEFAULT_PPM,),
    possible_ions_only: bool = True,
) -> tuple[FragmentFormulaScoring, dict[str, Any]]:
    """The best weight and tolerance on the model's validation lists and a report (the whole grid, counts,
    settings). Each tolerance of ``ppm_grid`` comes with its floor :func:`tolerance_floor_da`."""
    from specvae.model_file import read_metadata

    if not ppm_grid:
        raise FragmentWeightError("no fragment m/z tolerance to try")
    lists = validation_lists(model_path, training_set_path, n_nearest=n_nearest, max_spectra=max_spectra, seed=seed)
    peaks = read_peaks(spectrum_files, (one.identifier for one in lists.lists))
    ion_mode = read_metadata(model_path).ion_mode
    table, n_spectra = [], 0
    for ppm in ppm_grid:
        tolerances = FragmentFormulaScoring(0.0, ppm, tolerance_floor_da(ppm), possible_ions_only)
        shares = list_shares(lists, peaks, ion_mode, tolerances)
        n_spectra = sum(share is not None for share in shares)
        table += [{"ppm": float(ppm), **row} for row in weight_table(lists, shares)]
    best = best_setting(table)
    scoring = FragmentFormulaScoring(best["weight"], best["ppm"], tolerance_floor_da(best["ppm"]), possible_ions_only)
    report = {
        "fitted_on": f"validation spectra of {os.fspath(training_set_path)}",
        "n_spectra": n_spectra,
        "n_nearest": n_nearest,
        "seed": seed,
        "grid": table,
    }
    return scoring, report
