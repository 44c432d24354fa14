"""What the candidates' molecular formulas are worth for ranking: a measured ceiling and the fragment-formula score.

Most CASMI 2016 lists hold several formulas (the candidates come from a mass window): a ranking that knew the
answer's formula would drop every candidate of another formula. Two measurements, each on validation lists
(selection: :mod:`specvae.validation_lists`, each validation spectrum against the 256 structures of the training
set nearest in mass to its own; [M+H]+ / [M-H]- spectra only) and on CASMI 2016 (test), for models *without* a
fitted fragment weight (their scores are the fingerprint score alone):

* **oracle formula**: candidates whose formula differs from the answer's are removed before ranking. Not a
  method, a ceiling: what a perfect formula assignment (isotope pattern, fragmentation trees) would add.
* **fragment explanation**: the score minus ``weight`` × the candidate's unexplained fragment share
  (:func:`specvae.fragment_formulas.unexplained_share`, the term ``specvae fit-fragment-weight`` fits), for a grid
  of weights.

    SPECVAE_DATA_DIR=... python benchmarks/formula_explanation.py TRAINING_SET.h5 \\
        POSITIVE.specvae NEGATIVE.specvae --fingerprint-cache CACHE.h5 > table.md
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from specvae.adducts import default_adduct
from specvae.benchmark import load_casmi2016
from specvae.benchmark.evaluation import answer_mask
from specvae.benchmark.metrics import answer_rank
from specvae.benchmark.runner import run_benchmark
from specvae.fragment_formulas import FragmentFormulaScoring, inchi_formula, unexplained_shares
from specvae.fragment_weight_fit import list_shares
from specvae.model_file import read_metadata
from specvae.validation_lists import read_peaks, validation_lists

WEIGHTS = (0.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 1e5)
NO_WEIGHT = FragmentFormulaScoring(weight=0.0, possible_ions_only=False)
"""The setting the recorded tables were measured with: 10 ppm, every sub-formula counts."""


def validation_rows(training_set: str, model_path: str, massbank_files: list[str]) -> list[dict]:
    """Fingerprint scores, formulas, unexplained shares and answer masks of the model's validation lists."""
    ion_mode = read_metadata(model_path).ion_mode
    lists = validation_lists(model_path, training_set, n_nearest=256, max_spectra=1000, seed=0)
    lists.lists = [one for one in lists.lists if one.adduct == default_adduct(ion_mode).name]
    shares = list_shares(
        lists, read_peaks(massbank_files, (one.identifier for one in lists.lists)), ion_mode, NO_WEIGHT
    )
    return [
        {
            "scores": one.scores,
            "formulas": [lists.formulas[row] for row in one.candidates],
            "shares": share,
            "is_answer": np.array([skeleton == one.answer_skeleton for skeleton in one.skeletons]),
        }
        for one, share in zip(lists.lists, shares, strict=True)
        if share is not None
    ]


def casmi_rows(positive: str, negative: str, fingerprint_cache: str | None) -> list[dict]:
    """The same for CASMI 2016's official lists, scored through ``specvae benchmark``'s code path."""
    data = load_casmi2016(os.environ.get("SPECVAE_DATA_DIR"))
    report = run_benchmark(data, model_paths=[positive, negative], fingerprint_cache=fingerprint_cache, progress=False)
    challenges = {challenge.name: challenge for challenge in data.challenges}
    rows = []
    for result in report.runs[0].results:
        challenge = challenges[result.challenge]
        if result.rank is None:
            continue
        spectrum = challenge.spectrum
        formulas = [inchi_formula(inchi) for inchi in challenge.candidates.inchis]
        adducts = [default_adduct(challenge.ion_mode)] * len(formulas)
        peaks, precursor_mz = spectrum.peaks, float(spectrum.get("precursor_mz"))
        shares = unexplained_shares(formulas, adducts, peaks.mz, peaks.intensities, precursor_mz, NO_WEIGHT)
        rows.append(
            {
                "scores": result.scores,
                "formulas": formulas,
                "shares": shares,
                "is_answer": answer_mask(challenge),
                "ion_mode": challenge.ion_mode,
                "precursor_mz": precursor_mz,
            }
        )
    return rows


def top_counts(rows: list[dict], weight: float = 0.0, oracle: bool = False) -> str:
    """Answers at expected rank ≤ 1 / 3 / 10 with the given weight (or with other formulas removed)."""
    ranks = []
    for row in rows:
        scores = np.asarray(row["scores"], dtype=np.float64) - weight * row["shares"]
        if oracle:
            answer_formulas = {f for f, is_answer in zip(row["formulas"], row["is_answer"], strict=True) if is_answer}
            scores = np.where([f in answer_formulas for f in row["formulas"]], scores, -np.inf)
        ranks.append(answer_rank(scores, row["is_answer"]))
    return " / ".join(str(sum(rank.within(k) for rank in ranks)) for k in (1, 3, 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("training_set")
    parser.add_argument("positive")
    parser.add_argument("negative")
    parser.add_argument("--fingerprint-cache")
    arguments = parser.parse_args()
    data_dir = os.environ["SPECVAE_DATA_DIR"]
    massbank = [f"{data_dir}/massbank/massbank_{mode}.mgf.gz" for mode in ("positive", "negative")]
    validation = [
        row for path in (arguments.positive, arguments.negative)
        for row in validation_rows(arguments.training_set, path, massbank)
    ]  # fmt: skip
    casmi = casmi_rows(arguments.positive, arguments.negative, arguments.fingerprint_cache)
    print(f"| setting | validation top-1/3/10 ({len(validation)} spectra) | CASMI 2016 top-1/3/10 ({len(casmi)}) |")
    print("|---|---|---|")
    print(f"| oracle formula (ceiling) | {top_counts(validation, oracle=True)} | {top_counts(casmi, oracle=True)} |")
    for weight in WEIGHTS:
        row = f"| fragment explanation, weight {weight:g} | {top_counts(validation, weight)} |"
        print(f"{row} {top_counts(casmi, weight)} |")


if __name__ == "__main__":
    main()
