"""What the precursor's m/z error would add to the ranking on CASMI 2016, and why it is not used.

CASMI 2016 lists hold every structure within about 5 ppm of the precursor, so a term that favours candidates whose
[M+H]+ / [M-H]- m/z is closest to the precursor m/z would pick formulas. But the precursor m/z of the challenges
(like that of MassBank records) is the answer's *calculated* m/z, rounded: the answer sits within 0.3 ppm of it, where
a measured precursor is typically 1-3 ppm off. This script measures the term on the challenges as given and with
simulated measurement errors (Gaussian, one draw per challenge), on top of the fragment-formula score:

    score = fingerprint score - fragment_weight × unexplained share - mass_weight × ½ (Δppm / σ)²

    SPECVAE_DATA_DIR=... python benchmarks/precursor_mass_error.py POSITIVE.specvae NEGATIVE.specvae \\
        --fingerprint-cache CACHE.h5 > table.md

The two models should carry no fitted fragment weight (their scores are the fingerprint score alone).
"""

from __future__ import annotations

import argparse

import numpy as np
from formula_explanation import casmi_rows
from formula_explanation import top_counts as fragment_top_counts

from specvae.adducts import default_adduct, element_masses
from specvae.fragment_formulas import element_counts

FRAGMENT_WEIGHT = 1000.0
SIGMAS_PPM = (1.0, 2.0, 5.0)
MASS_WEIGHTS = (10.0, 100.0, 1000.0)
NOISE_PPM = (0.0, 1.0, 2.0)


def ion_mz(formula: str | None, ion_mode: str, masses) -> float:
    if formula is None:
        return np.nan
    try:
        neutral = sum(masses[element] * count for element, count in element_counts(formula).items())
    except (ValueError, KeyError):
        return np.nan
    adduct = default_adduct(ion_mode)
    return (adduct.multiplicity * neutral + adduct.mass_shift_da) / abs(adduct.charge)


def add_mass_errors(rows: list[dict]) -> None:
    """Each row's candidates' m/z error (ppm) against its challenge's precursor m/z."""
    masses = element_masses()
    for row in rows:
        precursor = row["precursor_mz"]
        mz = np.array([ion_mz(formula, row["ion_mode"], masses) for formula in row["formulas"]])
        row["ppm"] = np.nan_to_num((mz - precursor) / precursor * 1e6, nan=1e3)


def with_mass_term(rows, mass_weight: float, sigma: float, noise: float, seed: int = 0) -> list[dict]:
    """The rows with ``mass_weight × ½ (Δppm / σ)²`` taken off the scores, each challenge's precursor moved by one
    Gaussian draw of ``noise`` ppm."""
    rng = np.random.default_rng(seed)
    adjusted = []
    for row in rows:
        error = row["ppm"] + (rng.normal(0.0, noise) if noise else 0.0)
        scores = np.asarray(row["scores"]) - mass_weight * 0.5 * (error / sigma) ** 2
        adjusted.append({**row, "scores": scores})
    return adjusted


def top_counts(rows, mass_weight: float, sigma: float, noise: float) -> str:
    return fragment_top_counts(with_mass_term(rows, mass_weight, sigma, noise), weight=FRAGMENT_WEIGHT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("positive")
    parser.add_argument("negative")
    parser.add_argument("--fingerprint-cache")
    arguments = parser.parse_args()
    rows = casmi_rows(arguments.positive, arguments.negative, arguments.fingerprint_cache)
    add_mass_errors(rows)
    answer_errors = [abs(row["ppm"][row["is_answer"]]).min() for row in rows]
    print(f"answers' |m/z error|: median {np.median(answer_errors):.2f} ppm, max {np.max(answer_errors):.2f} ppm\n")
    print("| precursor error added (ppm, σ of a Gaussian) | term σ (ppm) | mass weight | CASMI 2016 top-1/3/10 |")
    print("|---|---|---|---|")
    print(f"| – | – | 0 (fragment-formula score alone) | {top_counts(rows, 0.0, 1.0, 0.0)} |")
    for noise in NOISE_PPM:
        for sigma in SIGMAS_PPM:
            for weight in MASS_WEIGHTS:
                print(f"| {noise:g} | {sigma:g} | {weight:g} | {top_counts(rows, weight, sigma, noise)} |")


if __name__ == "__main__":
    main()
