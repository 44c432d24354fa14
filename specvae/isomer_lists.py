"""Validation spectra ranked against database isomers: what the formula-conditioning weight is chosen on.

The validation lists of :mod:`specvae.validation_lists` draw their decoys from the training set's own structures,
all of them measured compounds, so a model's knowledge of which structures of a formula get measured is worth
nothing there. A user's candidates come from PubChem or ChemSpider: one formula, many isomers nobody measured.
These lists put each validation spectrum's structure among up to ``n_isomers`` structures of the same formula from
a structure library that is not the training data (``data_manifests/moses.json``: 1.58 million ZINC structures),
so that the within-formula ranking, which formula conditioning changes, is measured where it matters. Every
candidate of a list shares the formula, so the fragment-formula term cannot separate them and is left out.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

MIN_LIST_SIZE = 10
"""Lists with fewer candidates (the answer and its isomers) are left out: they say little about ranking."""


@dataclass
class IsomerList:
    """One validation spectrum, its structure's formula and the kept bits of its candidates (row 0: the answer)."""

    spectrum_row: int
    formula: str
    bits: np.ndarray


def isomers_by_formula(smiles: Iterable[str], formulas: set[str], progress: bool = True) -> dict[str, list[str]]:
    """``{formula: [SMILES, ...]}`` of the library structures whose formula is one of ``formulas``."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdMolDescriptors
    from tqdm import tqdm

    RDLogger.DisableLog("rdApp.*")
    found: dict[str, list[str]] = defaultdict(list)
    for text in tqdm(smiles, desc="library formulas", unit=" structures", disable=not progress, mininterval=2):
        mol = Chem.MolFromSmiles(text)
        if mol is None:
            continue
        formula = rdMolDescriptors.CalcMolFormula(mol)
        if formula in formulas:
            found[formula].append(text)
    return dict(found)


def isomer_lists(
    training_set_path: str | os.PathLike[str],
    ion_mode: str,
    fingerprint_definition,
    library_smiles: Sequence[str],
    *,
    n_isomers: int = 99,
    max_spectra: int = 100_000,
    seed: int = 0,
    progress: bool = True,
) -> list[IsomerList]:
    """The validation spectra of ``ion_mode`` (at most ``max_spectra``, drawn with ``seed``) whose structure's
    formula has at least ``MIN_LIST_SIZE - 1`` isomers in the library, each with up to ``n_isomers`` of them drawn
    with ``seed`` (any with the answer's InChIKey first block left out)."""
    from rdkit import Chem

    from specvae.fingerprints.compute import compute_fingerprints
    from specvae.training_set_reader import TrainingSet
    from specvae.validation_lists import structure_formulas_and_masses

    data = TrainingSet.load(training_set_path, ion_mode)
    spectra = data.spectra_in("validation")
    spectra = spectra[data.spectrum_structure[spectra] >= 0]
    generator = np.random.default_rng(seed)
    if spectra.size > max_spectra:
        spectra = np.sort(generator.choice(spectra, max_spectra, replace=False))
    formulas, _ = structure_formulas_and_masses(training_set_path)
    wanted = {formulas[data.spectrum_structure[row]] for row in spectra} - {None}
    library = isomers_by_formula(library_smiles, wanted, progress)
    chosen = []
    for row in spectra:
        structure = int(data.spectrum_structure[row])
        pool = library.get(formulas[structure] or "", [])
        if len(pool) + 1 < MIN_LIST_SIZE:
            continue
        picked = np.sort(generator.choice(len(pool), min(n_isomers, len(pool)), replace=False))
        chosen.append((int(row), structure, [pool[i] for i in picked]))
    distinct = sorted({text for *_, picked in chosen for text in picked})
    result = compute_fingerprints(distinct, fingerprint_definition.without_mask(), progress=progress)
    failed = {distinct[error.index] for error in result.errors}
    skeletons = {text: Chem.MolToInchiKey(Chem.MolFromSmiles(text))[:14] for text in distinct if text not in failed}
    bits_of = dict(zip(distinct, fingerprint_definition.select_kept(result.fingerprints), strict=True))
    answer_bits = fingerprint_definition.select_kept(data.fingerprint_bits())
    lists = []
    for row, structure, picked in chosen:
        answer = data.structure_inchikey14[structure]
        decoys = [text for text in picked if text in skeletons and skeletons[text] != answer]
        if len(decoys) + 1 < MIN_LIST_SIZE:
            continue
        bits = np.vstack([answer_bits[structure][None, :], *(bits_of[text][None, :] for text in decoys)])
        lists.append(IsomerList(row, formulas[structure], bits))
    return lists
