"""What the candidates' molecular formulas are worth for ranking: a measured ceiling and a simple fragment score.

Most CASMI 2016 lists hold several formulas (the candidates come from a mass window): a ranking that knew the
answer's formula would drop every candidate of another formula. Two measurements, each on validation retrieval
(selection) and on CASMI 2016 (test):

* **oracle formula**: candidates whose formula differs from the answer's are removed before ranking. Not a
  method, a ceiling: what a perfect formula assignment (isotope pattern, fragmentation trees) would add.
* **fragment explanation**: a candidate's score is its fingerprint score minus ``weight`` times the share of the
  spectrum's (square-root) intensity that no sub-formula of the candidate's ion formula explains (fragments
  below the precursor only, within ``ppm`` or ``abs_da``). ``weight`` is chosen on validation retrieval, where
  each validation spectrum is ranked against the 256 structures of the training set nearest in mass to its own
  (as ``specvae fit-confidence`` ranks them); the precursor region (``m/z > precursor - 1.5``) is left out so that
  a candidate's mass alone decides nothing.

    SPECVAE_DATA_DIR=... python benchmarks/formula_explanation.py TRAINING_SET.h5 \\
        POSITIVE.specvae NEGATIVE.specvae --fingerprint-cache CACHE.h5 > table.md
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
from collections import Counter

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors, rdMolDescriptors

from specvae.annotator import predict_in_canonical_batches
from specvae.benchmark import load_casmi2016
from specvae.benchmark.evaluation import answer_mask
from specvae.benchmark.metrics import answer_rank
from specvae.benchmark.runner import run_benchmark
from specvae.fingerprints import FingerprintDefinition
from specvae.model_file import load_model
from specvae.ranking import score_candidates
from specvae.training_set_reader import TrainingSet

MONOISOTOPIC = {
    "C": 12.0, "H": 1.00782503207, "N": 14.0030740048, "O": 15.99491461956, "P": 30.97376163, "S": 31.97207100,
    "F": 18.99840322, "Cl": 34.96885268, "Br": 78.9183371, "I": 126.904473, "Si": 27.9769265325, "B": 11.0093054,
    "Se": 79.9165213, "As": 74.9215965, "Na": 22.9897692809, "K": 38.96370668,
}  # fmt: skip
ELECTRON = 0.00054857990946
WEIGHTS = (0.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 1e5)
_ELEMENT = re.compile(r"([A-Z][a-z]?)(\d*)")


def formula_counts(formula: str) -> Counter:
    """Element counts of a formula, components of a salt or hydrate (``C9H7NO3.H2O``, ``2Na``) added up."""
    counts: Counter = Counter()
    for part in formula.split("."):
        multiplier = re.match(r"^(\d*)(.*)$", part)
        factor = int(multiplier.group(1) or 1)
        for element, count in _ELEMENT.findall(multiplier.group(2)):
            counts[element] += factor * (int(count) if count else 1)
    return counts


def explained_peaks(ion: Counter, mzs: np.ndarray, charge: int, ppm: float, abs_da: float) -> np.ndarray | None:
    """For each peak, whether some sub-formula of ``ion`` (an ion of charge ``charge``) has its mass within
    tolerance; None when the formula holds an element without a known mass. The hydrogen count is solved for
    each combination of the other elements, so the search is over heavy atoms only."""
    if any(element not in MONOISOTOPIC for element in ion):
        return None
    heavy = [element for element in ion if element != "H" and ion[element] > 0]
    grids = np.meshgrid(*[np.arange(ion[element] + 1) for element in heavy], indexing="ij") if heavy else []
    heavy_mass = sum((grid * MONOISOTOPIC[e] for e, grid in zip(heavy, grids, strict=True)), np.zeros(1)).ravel()
    hydrogens = ion.get("H", 0)
    explained = np.zeros(len(mzs), dtype=bool)
    for index, mz in enumerate(mzs):
        neutral = mz + charge * ELECTRON
        n_h = np.round((neutral - heavy_mass) / MONOISOTOPIC["H"])
        error = np.abs(heavy_mass + n_h * MONOISOTOPIC["H"] - neutral)
        explained[index] = bool(np.any((n_h >= 0) & (n_h <= hydrogens) & (error <= max(ppm * 1e-6 * mz, abs_da))))
    return explained


def unexplained_share(formula, mzs, intensities, precursor_mz, charge, ppm=10.0, abs_da=0.002) -> float:
    """Share of the square-root intensity of the fragments (below the precursor region) that no sub-formula of
    the [M+H]+ / [M-H]- ion of ``formula`` explains; 1 for a formula that cannot be read."""
    keep = mzs < precursor_mz - 1.5
    if not keep.any():
        return 0.0
    if formula is None:
        return 1.0
    ion = formula_counts(formula)
    ion["H"] += charge
    if ion["H"] < 0:
        return 1.0
    explained = explained_peaks(ion, mzs[keep], charge, ppm, abs_da)
    if explained is None:
        return 1.0
    weights = np.sqrt(intensities[keep])
    return float(weights[~explained].sum() / weights.sum())


def top_counts(ranks) -> tuple[int, int, int]:
    return tuple(int(sum(rank.within(k) for rank in ranks)) for k in (1, 3, 10))


# ----------------------------------------------------------------------------- validation retrieval
def read_peaks(paths, wanted: set[str]) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """``{identifier: (m/z, intensities, precursor m/z)}`` of the wanted MGF records (a plain text scan)."""
    found = {}
    for path in paths:
        with gzip.open(path, "rt") if str(path).endswith(".gz") else open(path) as handle:
            title, precursor, peaks = None, None, []
            for line in handle:
                line = line.strip()
                if line == "BEGIN IONS":
                    title, precursor, peaks = None, None, []
                elif line.startswith("TITLE="):
                    title = line[6:]
                elif line.startswith("PEPMASS="):
                    try:
                        precursor = float(line[8:].split()[0])
                    except ValueError:
                        precursor = None
                elif line == "END IONS":
                    if title in wanted and peaks and precursor:
                        array = np.array(peaks, dtype=np.float64)
                        found[title] = (array[:, 0], array[:, 1], precursor)
                elif line and line[0].isdigit() and title in wanted:
                    mz, intensity = line.split()[:2]
                    peaks.append((float(mz), float(intensity)))
    return found


def validation_rows(training_set, model_path, massbank_files, n_nearest=256, max_spectra=1000, seed=0):
    """Per validation spectrum: fingerprint scores of its n_nearest candidates, their formulas' unexplained
    shares, and which candidate is the truth."""
    model, metadata = load_model(model_path)
    data = TrainingSet.load(training_set, metadata.ion_mode)
    definition = FingerprintDefinition.from_dict(metadata.fingerprint)
    spectra = data.spectra_in("validation")
    spectra = spectra[data.spectrum_structure[spectra] >= 0]
    if spectra.size > max_spectra:
        spectra = np.sort(np.random.default_rng(seed).choice(spectra, max_spectra, replace=False))
    import h5py

    with h5py.File(training_set, "r") as handle:
        identifiers = handle["spectra/identifier"].asstr()[()]
        adducts = handle["spectra/adduct"].asstr()[()]
        modes = handle["spectra/ion_mode"].asstr()[()]
        smiles = handle["structures/smiles"].asstr()[()]
    mode_rows = np.flatnonzero(modes == metadata.ion_mode)  # TrainingSet rows are this mode's spectra in order
    charge = 1 if metadata.ion_mode == "positive" else -1
    wanted_adduct = "[M+H]+" if charge == 1 else "[M-H]-"
    RDLogger.DisableLog("rdApp.*")
    molecules = [Chem.MolFromSmiles(text) for text in smiles]
    masses = np.array([Descriptors.ExactMolWt(mol) if mol is not None else np.nan for mol in molecules])
    formulas = [rdMolDescriptors.CalcMolFormula(mol) if mol is not None else None for mol in molecules]
    peaks = read_peaks(massbank_files, {identifiers[mode_rows[row]] for row in spectra})
    kept_bits = definition.select_kept(data.fingerprint_bits())
    predictions = predict_in_canonical_batches(model, data.spectra[spectra])
    usable = np.flatnonzero(np.isfinite(masses))
    order = usable[np.argsort(masses[usable], kind="stable")]
    rows = []
    for prediction, row in zip(predictions, spectra, strict=True):
        structure = data.spectrum_structure[row]
        identifier = identifiers[mode_rows[row]]
        if identifier not in peaks or adducts[mode_rows[row]] != wanted_adduct or not np.isfinite(masses[structure]):
            continue
        mzs, intensities, precursor = peaks[identifier]
        nearest = order[np.argsort(np.abs(masses[order] - masses[structure]), kind="stable")[:n_nearest]]
        if structure not in nearest:
            nearest = np.append(nearest[:-1], structure)
        shares = {}
        for candidate in nearest:
            formula = formulas[candidate]
            if formula not in shares:
                shares[formula] = unexplained_share(formula, mzs, intensities, precursor, charge)
        rows.append(
            {
                "scores": score_candidates(prediction, kept_bits[nearest]),
                "formulas": [formulas[candidate] for candidate in nearest],
                "shares": shares,
                "is_answer": np.array(
                    [data.structure_inchikey14[c] == data.structure_inchikey14[structure] for c in nearest]
                ),
            }
        )
    return rows


# ----------------------------------------------------------------------------- CASMI 2016
def casmi_rows(positive, negative, fingerprint_cache):
    data = load_casmi2016(os.environ.get("SPECVAE_DATA_DIR"))
    report = run_benchmark(data, model_paths=[positive, negative], fingerprint_cache=fingerprint_cache, progress=False)
    challenges = {challenge.name: challenge for challenge in data.challenges}
    rows = []
    for result in report.runs[0].results:
        challenge = challenges[result.challenge]
        if result.rank is None:
            continue
        spectrum = challenge.spectrum
        charge = 1 if challenge.ion_mode == "positive" else -1
        formulas = [
            inchi.split("/")[1] if inchi and inchi.count("/") else None for inchi in challenge.candidates.inchis
        ]
        mzs, intensities = spectrum.peaks.mz, spectrum.peaks.intensities
        precursor = spectrum.get("precursor_mz")
        shares = {f: unexplained_share(f, mzs, intensities, precursor, charge) for f in set(formulas)}
        rows.append(
            {"scores": result.scores, "formulas": formulas, "shares": shares, "is_answer": answer_mask(challenge)}
        )
    return rows


def ranks(rows, weight: float = 0.0, oracle: bool = False):
    out = []
    for row in rows:
        penalty = np.array([row["shares"][formula] for formula in row["formulas"]])
        scores = np.asarray(row["scores"], dtype=np.float64) - weight * penalty
        if oracle:
            answer_formulas = {f for f, is_answer in zip(row["formulas"], row["is_answer"], strict=True) if is_answer}
            scores = np.where([f in answer_formulas for f in row["formulas"]], scores, -np.inf)
        out.append(answer_rank(scores, row["is_answer"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("training_set")
    parser.add_argument("positive")
    parser.add_argument("negative")
    parser.add_argument("--fingerprint-cache")
    arguments = parser.parse_args()
    data_dir = os.environ["SPECVAE_DATA_DIR"]
    massbank = [f"{data_dir}/massbank/massbank_{mode}.mgf.gz" for mode in ("positive", "negative")]
    validation = {
        mode: validation_rows(arguments.training_set, path, massbank)
        for mode, path in (("positive", arguments.positive), ("negative", arguments.negative))
    }
    casmi = casmi_rows(arguments.positive, arguments.negative, arguments.fingerprint_cache)
    n_validation = sum(len(rows) for rows in validation.values())
    print(f"| setting | validation top-1/3/10 (both modes, {n_validation} spectra) | CASMI 2016 top-1/3/10 (208) |")
    print("|---|---|---|")
    both = validation["positive"] + validation["negative"]
    print(f"| oracle formula (ceiling) | {'/'.join(map(str, top_counts(ranks(both, oracle=True))))} | "
          f"{'/'.join(map(str, top_counts(ranks(casmi, oracle=True))))} |")  # fmt: skip
    for weight in WEIGHTS:
        print(f"| fragment explanation, weight {weight:g} | {'/'.join(map(str, top_counts(ranks(both, weight))))} | "
              f"{'/'.join(map(str, top_counts(ranks(casmi, weight))))} |")  # fmt: skip


if __name__ == "__main__":
    main()
