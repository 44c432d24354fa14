"""Validation spectra ranked as a candidate list would rank them: what the confidence and the fragment-formula
weight are fitted on.

Each validation spectrum of a training set (at most ``max_spectra``, drawn with ``seed``) is ranked against the
``n_nearest`` structures of the whole set nearest in monoisotopic mass to its own structure (itself included), as
a mass-window candidate list would offer them. Fits done on these lists see what annotation sees: many formulas,
skeletons that tie, one right answer.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from specvae.errors import SpecvaeError


class ValidationListError(SpecvaeError, ValueError):
    """A training set that does not fit the model (other bins or fingerprint), or without validation spectra."""


@dataclass
class ValidationList:
    """One validation spectrum and its candidates (structure rows of the training set, nearest in mass)."""

    spectrum_row: int
    identifier: str
    adduct: str
    candidates: np.ndarray
    scores: np.ndarray
    skeletons: list[str]
    answer_skeleton: str


@dataclass
class ValidationLists:
    """The lists of one model and training set, and what fits need beside them."""

    lists: list[ValidationList]
    formulas: list[str | None]
    """Molecular formula of every structure row of the training set (None where RDKit cannot read it)."""


def structure_formulas_and_masses(training_set_path: str | os.PathLike[str]) -> tuple[list[str | None], np.ndarray]:
    """RDKit's formula and monoisotopic mass of every structure of a training set (None / NaN where unreadable)."""
    import h5py
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Descriptors, rdMolDescriptors

    RDLogger.DisableLog("rdApp.*")
    with h5py.File(training_set_path, "r") as handle:
        smiles = list(handle["structures/smiles"].asstr()[()])
    formulas: list[str | None] = []
    masses = np.full(len(smiles), math.nan)
    for row, text in enumerate(smiles):
        mol = Chem.MolFromSmiles(text) if text else None
        formulas.append(None if mol is None else rdMolDescriptors.CalcMolFormula(mol))
        if mol is not None:
            masses[row] = Descriptors.ExactMolWt(mol)
    return formulas, masses


def nearest_rows(order: np.ndarray, sorted_masses: np.ndarray, mass: float, count: int) -> np.ndarray:
    """The ``count`` structures (rows of ``order``) nearest to ``mass``, from a window around its position."""
    position = int(np.searchsorted(sorted_masses, mass))
    low, high = max(0, position - count), min(len(order), position + count)
    window = np.arange(low, high)
    nearest = window[np.argsort(np.abs(sorted_masses[window] - mass), kind="stable")[:count]]
    return order[np.sort(nearest)]


def validation_lists(
    model_path: str | os.PathLike[str],
    training_set_path: str | os.PathLike[str],
    *,
    n_nearest: int,
    max_spectra: int,
    seed: int = 0,
) -> ValidationLists:
    """Every drawn validation spectrum of the model's ion mode scored against its ``n_nearest`` structures by the
    fingerprint score alone. Raises :class:`ValidationListError` when the set's bins or fingerprint differ from the
    model's or it has no validation spectrum with a structure."""
    from specvae.fingerprints import FingerprintDefinition
    from specvae.model_file import load_model
    from specvae.pipeline.prediction import predict_in_canonical_batches
    from specvae.ranking import score_candidates
    from specvae.training_set_reader import TrainingSet, spectrum_text_columns

    model, metadata = load_model(model_path)
    data = TrainingSet.load(training_set_path, metadata.ion_mode)
    if data.binner.to_dict() != metadata.binning:
        raise ValidationListError(f"{training_set_path}: its spectrum bins differ from those of {model_path}")
    definition = FingerprintDefinition.from_dict(metadata.fingerprint)
    if data.fingerprint.to_dict() != definition.without_mask().to_dict():
        raise ValidationListError(f"{training_set_path}: its fingerprint differs from that of {model_path}")
    spectra = data.spectra_in("validation")
    spectra = spectra[data.spectrum_structure[spectra] >= 0]
    if spectra.size == 0:
        raise ValidationListError(
            f"{training_set_path}: no validation spectrum with a structure in {metadata.ion_mode} mode"
        )
    if spectra.size > max_spectra:
        spectra = np.sort(np.random.default_rng(seed).choice(spectra, max_spectra, replace=False))
    texts = spectrum_text_columns(training_set_path, metadata.ion_mode, ("identifier", "adduct"))
    identifiers, adducts = texts["identifier"], texts["adduct"]

    formulas, masses = structure_formulas_and_masses(training_set_path)
    usable = np.flatnonzero(np.isfinite(masses))
    order = usable[np.argsort(masses[usable], kind="stable")]
    sorted_masses = masses[order]
    kept_bits = definition.select_kept(data.fingerprint_bits())
    predictions = predict_in_canonical_batches(model, data.spectra[spectra])
    lists = []
    for prediction, row in zip(predictions, spectra, strict=True):
        structure = data.spectrum_structure[row]
        if not np.isfinite(masses[structure]):
            continue
        candidates = nearest_rows(order, sorted_masses, masses[structure], n_nearest)
        if structure not in candidates:
            candidates = np.append(candidates[:-1], structure)
        lists.append(
            ValidationList(
                spectrum_row=int(row),
                identifier=str(identifiers[row]),
                adduct=str(adducts[row]),
                candidates=candidates,
                scores=score_candidates(prediction, kept_bits[candidates]),
                skeletons=list(data.structure_inchikey14[candidates]),
                answer_skeleton=str(data.structure_inchikey14[structure]),
            )
        )
    return ValidationLists(lists, formulas)


def read_peaks(
    spectrum_files: Sequence[str | os.PathLike[str]], identifiers: Iterable[str]
) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """``{identifier: (m/z, intensities, precursor m/z)}`` of the wanted records of the spectrum files a training
    set was prepared from, cleaned as preparation and annotation clean them and named as preparation names them
    (the TITLE, else ``file#record``)."""
    from specvae.errors import SpectrumRejectedError
    from specvae.spectra.filters import clean_spectrum
    from specvae.spectra.metadata import spectrum_title
    from specvae.spectra.reading import iter_spectrum_records, quiet_matchms

    wanted = set(identifiers)
    found: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    with quiet_matchms():
        for path in spectrum_files:
            for record in iter_spectrum_records(path):
                if record.spectrum is None:
                    continue
                identifier = spectrum_title(record.spectrum) or f"{Path(path).name}#{record.record}"
                if identifier not in wanted or identifier in found:
                    continue  # cleaning is the slow part: only the wanted records are cleaned
                try:
                    spectrum = clean_spectrum(record.spectrum)
                except SpectrumRejectedError:
                    continue
                peaks = spectrum.peaks
                found[identifier] = (peaks.mz, peaks.intensities, float(spectrum.get("precursor_mz")))
    return found


def formula_conditioned_list_scores(
    model_path: str | os.PathLike[str],
    training_set_path: str | os.PathLike[str],
    lists: ValidationLists,
    list_scores: Sequence[np.ndarray],
    fragment_terms: Sequence[np.ndarray],
    weight: float,
) -> list[np.ndarray]:
    """The lists' scores as annotation ranks them with formula conditioning (:mod:`specvae.formula_conditioning`):
    ``list_scores`` (each list's ordinary scores, its ``fragment_terms`` included) combined with each candidate's
    score under the prediction for its own formula (plus its fragment term), within each formula."""
    import torch

    from specvae.fingerprints import FingerprintDefinition
    from specvae.formula_conditioning import formula_conditioned_scores
    from specvae.formula_features import formula_feature_matrix
    from specvae.model_file import load_model
    from specvae.pipeline.prediction import one_torch_thread
    from specvae.ranking import score_candidates
    from specvae.training_set_reader import TrainingSet

    model, metadata = load_model(model_path)
    data = TrainingSet.load(training_set_path, metadata.ion_mode)
    kept_bits = FingerprintDefinition.from_dict(metadata.fingerprint).select_kept(data.fingerprint_bits())
    conditioned_lists = []
    for one, scores, fragment in zip(lists.lists, list_scores, fragment_terms, strict=True):
        formulas = [lists.formulas[row] for row in one.candidates]
        distinct = sorted({formula for formula in formulas if formula})
        spectrum = torch.from_numpy(data.spectra[one.spectrum_row].toarray().astype(np.float32))
        with one_torch_thread():
            predictions = model.probabilities_under_formulas(
                spectrum, torch.from_numpy(formula_feature_matrix(distinct))
            )
        conditioned = np.full(len(formulas), np.nan)
        for formula, prediction in zip(distinct, predictions.numpy(), strict=True):
            rows = np.array([position for position, other in enumerate(formulas) if other == formula])
            conditioned[rows] = score_candidates(prediction, kept_bits[one.candidates[rows]]) + fragment[rows]
        conditioned_lists.append(formula_conditioned_scores(scores, conditioned, formulas, weight))
    return conditioned_lists
