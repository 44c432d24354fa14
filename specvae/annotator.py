"""The notebook and command-line entry point: spectra in, ranked candidate structures out.

Example (a notebook, with the models shipped in the package)::

    from specvae import Annotator
    annotator = Annotator.pretrained()                      # positive and negative mode models
    results = annotator.annotate("spectra.mgf", "candidates.sdf", top_k=5)
    results.to_dataframe()                                  # needs pandas
    probabilities = annotator.predict_fingerprint(spectra)  # matchms Spectrum objects or a path

Each spectrum is handled by the model of its ion mode. One bad spectrum or candidate never costs the others
their results: it goes to the :class:`~specvae.errors.ErrorReport` with the file, record and reason.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse
import torch
from matchms import Spectrum
from rdkit import Chem

from mmcore import MultimodalVAE
from specvae.adducts import Adduct, as_adduct
from specvae.candidates import (
    Candidate,
    CandidateMatch,
    CandidateSet,
    candidate_filter,
    candidate_from_mol,
    parse_smiles,
    read_candidate_rows,
    read_candidates,
)
from specvae.confidence import ConfidenceModel, model_confidence, rank_one_confidence
from specvae.errors import (
    EmptyCandidateListError,
    ErrorReport,
    InvalidStructureError,
    RecordError,
    SpecvaeError,
)
from specvae.explanation import Explanation, explain_candidates
from specvae.fingerprints import FingerprintCache, FingerprintDefinition, candidate_row_fingerprints
from specvae.model_file import ModelMetadata, load_model
from specvae.output import EXPLANATION_COLUMNS, OUTPUT_COLUMNS
from specvae.prediction import predict_fingerprint_probabilities
from specvae.ranking import rank_scores, score_candidates
from specvae.spectra.binning import SpectrumBinner
from specvae.spectra.filters import clean_spectrum
from specvae.spectra.metadata import (
    spectrum_adduct,
    spectrum_ion_mode,
    spectrum_precursor_mz,
    spectrum_retention_time,
    spectrum_title,
)
from specvae.spectra.reading import iter_clean_records
from specvae.spectra.records import SpectrumRecord

ION_MODES = ("positive", "negative")

PREDICTION_BATCH_SIZE = 64
"""Spectra of one ion mode that are predicted together: consecutive in input order, on one torch thread.

Why fixed: the last bits of a matrix product depend on the batch it runs in (its size, a row's place in it) and
on the number of threads, so a spectrum predicted with other neighbours can score 1e-9 differently. With the
batches fixed by the input alone, a spectrum's predicted fingerprint, and so every score, is the same whichever
process or chunk computes it (:mod:`specvae.distributed` relies on this). 64 rows is also about the fastest
batch on one core (``predict_fingerprint_probabilities`` is flat from 64 to 128 rows and slower above).
"""

NO_FINGERPRINT_REASON = "no candidate could be fingerprinted"


class SkippedRecordsWarning(UserWarning):
    """Some records could not be processed and no ``errors=`` report was given to receive them."""


@contextlib.contextmanager
def reported_errors(errors: ErrorReport | None, what: str) -> Iterator[ErrorReport]:
    """The report to fill: ``errors``, or a new one whose records, if any, are announced by a
    :class:`SkippedRecordsWarning` at the end of the block, so that no bad record vanishes silently."""
    report = ErrorReport() if errors is None else errors
    yield report
    if errors is None and len(report):
        examples = "; ".join(error.describe() for error in list(report)[:3])
        warnings.warn(
            f"{what}: {len(report)} record(s) could not be processed and were left out (e.g. {examples}); pass "
            "errors=ErrorReport() to receive them",
            SkippedRecordsWarning,
            stacklevel=3,
        )


STATUS_OK = "ok"
STATUS_NO_CANDIDATES = "no_candidates"
"""The spectrum was read and has a model, but no candidate lies in its mass window (or it has no list)."""
STATUS_NO_FINGERPRINTS = "no_fingerprints"
"""The spectrum had candidates, but none could be fingerprinted (all invalid structures)."""


def binned_intensity_fraction(binner: SpectrumBinner, spectrum: Spectrum) -> float:
    """The share of a spectrum's intensity in peaks inside the binned m/z range: what the model sees of it.

    Why it is reported: peaks at or above the grid's upper end are dropped by binning, so a spectrum whose
    peaks all lie there would be ranked from an empty input; a low share warns that the ranking saw little.
    """
    intensities = np.asarray(spectrum.peaks.intensities, dtype=np.float64)
    total = float(intensities.sum())
    if total <= 0:
        return 0.0
    return float(intensities[binner.bin_index(spectrum.peaks.mz) >= 0].sum()) / total


def visible_fraction(binner: SpectrumBinner, spectrum: Spectrum) -> float:
    """:func:`binned_intensity_fraction`, or :class:`SpecvaeError` when it is zero: no peak lies inside the bin grid,
    and the model would predict (and rank) from an empty input. ``annotate`` and ``predict`` both check it."""
    fraction = binned_intensity_fraction(binner, spectrum)
    if fraction == 0:
        raise SpecvaeError(
            f"no peak lies in the model's m/z range (below {binner.max_mz_da:g} Da): the model would "
            "predict from an empty spectrum"
        )
    return fraction


def pretrained_model_path(ion_mode: str) -> Path:
    """Path of the model shipped in the package for ``ion_mode``."""
    if ion_mode not in ION_MODES:
        raise ValueError(f"ion mode must be one of {ION_MODES}, got {ion_mode!r}")
    return Path(str(resources.files("specvae") / "pretrained" / f"{ion_mode}.specvae"))


@dataclass
class LoadedModel:
    """A model with what it needs around it: its bin grid and its fingerprint definition."""

    model: MultimodalVAE
    metadata: ModelMetadata
    path: str

    @property
    def binner(self) -> SpectrumBinner:
        return SpectrumBinner.from_dict(self.metadata.binning)

    @property
    def fingerprint(self) -> FingerprintDefinition:
        return FingerprintDefinition.from_dict(self.metadata.fingerprint)

    @property
    def confidence(self) -> ConfidenceModel | None:
        """The model's fitted confidence (``specvae fit-confidence``), or None: the confidence column stays empty."""
        return model_confidence(self.metadata.training)


@dataclass
class RankedStructure:
    """One row of the output: a candidate at its rank for a spectrum, or (``status`` other than ``"ok"``) the
    row that says why a spectrum has no ranked candidate, so that no spectrum vanishes from a table.

    ``adduct`` is the adduct the candidate's mass was matched under (with several adducts, the one that
    fits it best); ``precursor_mz`` and ``retention_time`` are the spectrum's, so a table can be joined back
    to an LC-MS feature list without the spectrum file.
    """

    spectrum_id: str
    rank: int | None
    score: float | None
    identifier: str | None
    name: str | None
    inchikey: str | None
    smiles: str | None
    molecular_formula: str | None
    mass_error_ppm: float | None
    n_candidates: int
    binned_intensity_fraction: float = 1.0
    adduct: str | None = None
    precursor_mz: float | None = None
    retention_time: float | None = None
    confidence: float | None = None
    status: str = STATUS_OK
    n_stereoisomers: int = 1
    explanation: Explanation | None = None

    @property
    def inchikey14(self) -> str | None:
        """The InChIKey's first block (the skeleton: stereoisomers share it)."""
        return None if self.inchikey is None else self.inchikey.split("-", 1)[0]

    # ``confidence``: on rank-1 rows, the calibrated probability that the rank-1 skeleton is right (None on the
    # other rows, and when the model has no fitted confidence). ``n_stereoisomers``: the candidates of the list
    # that share this row's InChIKey first block (itself included); with ``collapse_stereo`` only one is shown.
    # ``explanation`` (``annotate(..., explain=True)``): the named bits that raised and lowered the score.

    def as_dict(self, explain: bool = False) -> dict[str, Any]:
        """The output columns; with ``explain``, also the explanation's summary columns (empty without one)."""
        row = {column: getattr(self, column) for column in OUTPUT_COLUMNS}
        if explain:
            summary = self.explanation.summary() if self.explanation is not None else {}
            row.update({column: summary.get(column) for column in EXPLANATION_COLUMNS})
        return row


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (see :data:`PREDICTION_BATCH_SIZE` for why)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def predict_in_canonical_batches(model: MultimodalVAE, binned_spectra: scipy.sparse.csr_matrix) -> np.ndarray:
    """Predicted probabilities of binned spectra of one ion mode, batched as :data:`PREDICTION_BATCH_SIZE` says.

    Row ``i`` of the result is computed in the batch of rows ``i // PREDICTION_BATCH_SIZE``; callers that want
    the same numbers as :meth:`Annotator.annotate` pass the spectra of one mode starting at a batch boundary.
    """
    with one_torch_thread():
        return predict_fingerprint_probabilities(model, binned_spectra, batch_size=PREDICTION_BATCH_SIZE)


@dataclass
class SpectrumAnnotation:
    """The ranked candidates of one spectrum (the best ``top_k``; ties share a rank).

    ``status`` is ``"ok"``, or says why ``ranked`` is empty (:data:`STATUS_NO_CANDIDATES`,
    :data:`STATUS_NO_FINGERPRINTS`); the reason in words is in the error report.
    """

    spectrum_id: str
    ion_mode: str
    n_candidates: int
    ranked: list[RankedStructure] = field(default_factory=list)
    status: str = STATUS_OK
    precursor_mz: float | None = None
    retention_time: float | None = None
    binned_intensity_fraction: float = 1.0

    def status_row(self) -> RankedStructure:
        """The one output row of a spectrum without ranked candidates (candidate columns empty)."""
        return RankedStructure(
            spectrum_id=self.spectrum_id,
            rank=None,
            score=None,
            identifier=None,
            name=None,
            inchikey=None,
            smiles=None,
            molecular_formula=None,
            mass_error_ppm=None,
            n_candidates=self.n_candidates,
            binned_intensity_fraction=self.binned_intensity_fraction,
            precursor_mz=self.precursor_mz,
            retention_time=self.retention_time,
            status=self.status,
        )

    def output_rows(self) -> list[RankedStructure]:
        """The ranked rows, or the status row when there are none."""
        return list(self.ranked) if self.ranked else [self.status_row()]


class AnnotationResults(list):
    """A list of :class:`SpectrumAnnotation`, in input order, with table conversions.

    Every spectrum that was read and matched to a model has an entry; one without ranked candidates has an
    empty ``ranked`` list and a ``status`` saying why, and one row (the status row) in :meth:`rows`.
    ``explained``: the rows carry explanations (``annotate(..., explain=True)``), and the tables their columns.
    """

    explained: bool = False

    def columns(self) -> tuple[str, ...]:
        """The table's columns: :data:`OUTPUT_COLUMNS`, plus :data:`EXPLANATION_COLUMNS` when explained."""
        return OUTPUT_COLUMNS + EXPLANATION_COLUMNS if self.explained else OUTPUT_COLUMNS

    def annotated(self) -> list[SpectrumAnnotation]:
        """The entries with ranked candidates."""
        return [annotation for annotation in self if annotation.ranked]

    def rows(self) -> list[dict[str, Any]]:
        return [row.as_dict(self.explained) for annotation in self for row in annotation.output_rows()]

    def to_dataframe(self):
        """A pandas DataFrame with one row per spectrum × candidate (needs ``pip install pandas``)."""
        try:
            import pandas
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("to_dataframe needs pandas: pip install pandas") from error
        return pandas.DataFrame(self.rows(), columns=list(self.columns()))


class NumberedSpectrum(NamedTuple):
    """A cleaned spectrum with its identifier and its record number in the input (1-based), so that a problem
    found after cleaning names the record a user can find in the file, not a position among the usable ones."""

    identifier: str
    spectrum: Spectrum
    record: int | str


@dataclass
class _Query:
    """A spectrum that passed cleaning and has candidates, waiting for prediction and ranking."""

    spectrum_id: str
    ion_mode: str
    spectrum: Spectrum
    matches: list[CandidateMatch]  # empty: no candidate in the window (STATUS_NO_CANDIDATES)
    binned_intensity_fraction: float = 1.0


class Annotator:
    """Predict fingerprints from spectra and rank candidate structures, with one model per ion mode."""

    def __init__(
        self,
        models: dict[str, LoadedModel],
        fingerprint_cache: str | os.PathLike[str] | None = None,
        n_workers: int = 1,
        rebuild_cache: bool = False,
    ) -> None:
        """``rebuild_cache``: move a damaged fingerprint cache aside (``<name>.corrupt-<time>``, with a warning)
        and start a new one, instead of raising :class:`~specvae.fingerprints.FingerprintCacheError`."""
        if not models:
            raise ValueError("an Annotator needs at least one model")
        definitions = {FingerprintDefinition.from_dict(m.metadata.fingerprint).without_mask() for m in models.values()}
        if len(definitions) != 1:
            raise ValueError("the models use different fingerprint definitions; load them into separate Annotators")
        self.models = models
        self.full_fingerprint = definitions.pop()
        self.fingerprint_cache = (
            None
            if fingerprint_cache is None
            else FingerprintCache(fingerprint_cache, self.full_fingerprint, rebuild_damaged=rebuild_cache)
        )
        self.n_workers = n_workers

    # ---------------------------------------------------------------- construction
    @classmethod
    def load(cls, paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], **options: Any) -> Annotator:
        """Load one or more model files; each serves the ion mode stored in it."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        models = {}
        for path in paths:
            model, metadata = load_model(path)
            if metadata.ion_mode in models:
                raise ValueError(
                    f"two models for {metadata.ion_mode} mode: {models[metadata.ion_mode].path} and {path}"
                )
            models[metadata.ion_mode] = LoadedModel(model, metadata, str(path))
        return cls(models, **options)

    @classmethod
    def pretrained(cls, ion_mode: str = "both", **options: Any) -> Annotator:
        """The models shipped with specvae: ``"positive"``, ``"negative"`` or ``"both"``."""
        modes = ION_MODES if ion_mode == "both" else (ion_mode,)
        return cls.load([pretrained_model_path(mode) for mode in modes], **options)

    # ---------------------------------------------------------------- spectra
    def _spectra_with_ids(
        self, spectra: str | os.PathLike[str] | Iterable[Spectrum], errors: ErrorReport
    ) -> list[NumberedSpectrum]:
        """Cleaned spectra with their identifiers and record numbers; unreadable or rejected ones go to ``errors``."""
        if isinstance(spectra, (str, os.PathLike)):
            return cleaned_records_with_ids(iter_clean_records(spectra), errors)
        if isinstance(spectra, Spectrum):
            spectra = [spectra]
        cleaned = []
        for index, spectrum in enumerate(spectra, start=1):
            identifier = spectrum_title(spectrum) or f"spectrum {index}"
            try:
                cleaned.append(NumberedSpectrum(identifier, clean_spectrum(spectrum), index))
            except SpecvaeError as error:
                errors.append(RecordError("<spectra>", index, str(error), identifier))
        return cleaned

    def _model_for(self, spectrum: Spectrum) -> tuple[str, LoadedModel]:
        mode = spectrum_ion_mode(spectrum)
        if mode is None:
            raise SpecvaeError("the spectrum states no ion mode or charge: cannot choose a model")
        if mode not in self.models:
            raise SpecvaeError(f"no model for {mode} mode is loaded (have: {', '.join(self.models)})")
        return mode, self.models[mode]

    def predict_fingerprint(
        self, spectra: str | os.PathLike[str] | Iterable[Spectrum], errors: ErrorReport | None = None
    ) -> dict[str, np.ndarray]:
        """Predicted probabilities of each kept fingerprint bit, keyed by spectrum identifier.

        The bits are the kept bits of the model of each spectrum's ion mode
        (``LoadedModel.fingerprint.kept_bit_names()`` names them); :meth:`predict_fingerprint_by_mode` keeps
        the modes apart.
        """
        by_mode = self.predict_fingerprint_by_mode(spectra, errors)
        return {identifier: row for predictions in by_mode.values() for identifier, row in predictions.items()}

    def predict_fingerprint_by_mode(
        self, spectra: str | os.PathLike[str] | Spectrum | Iterable[Spectrum], errors: ErrorReport | None = None
    ) -> dict[str, dict[str, np.ndarray]]:
        """Like :meth:`predict_fingerprint`, grouped by ion mode (the model that made each prediction)."""
        with reported_errors(errors, "predict_fingerprint") as report:
            return self._predict_fingerprint_by_mode(spectra, report)

    def _predict_fingerprint_by_mode(
        self, spectra: str | os.PathLike[str] | Spectrum | Iterable[Spectrum], errors: ErrorReport
    ) -> dict[str, dict[str, np.ndarray]]:
        source = str(spectra) if isinstance(spectra, (str, os.PathLike)) else "<spectra>"
        by_mode: dict[str, list[tuple[str, Spectrum]]] = {}
        for identifier, spectrum, record in self._spectra_with_ids(spectra, errors):
            try:
                mode, loaded = self._model_for(spectrum)
                visible_fraction(loaded.binner, spectrum)  # a prediction from an empty input is reported, as annotate
            except SpecvaeError as error:
                errors.append(RecordError(source, record, str(error), identifier))
                continue
            by_mode.setdefault(mode, []).append((identifier, spectrum))
        predictions: dict[str, dict[str, np.ndarray]] = {}
        for mode, items in by_mode.items():
            loaded = self.models[mode]
            probabilities = predict_in_canonical_batches(loaded.model, loaded.binner.bin([s for _, s in items]))
            predictions[mode] = {identifier: row for (identifier, _), row in zip(items, probabilities, strict=True)}
        return predictions

    # ---------------------------------------------------------------- candidates
    @staticmethod
    def candidate_set(
        candidates: Any,
        errors: ErrorReport,
        *,
        spectrum_id_column: str | None = None,
        formula: str | None = None,
        elements: str | None = None,
    ) -> CandidateSet:
        """The :class:`CandidateSet` of what :meth:`annotate` accepts as ``candidates`` (a file, a pandas
        DataFrame with the columns of a candidate table, a CandidateSet, SMILES / RDKit molecules /
        :class:`Candidate` objects), restricted to ``formula`` / ``elements`` when given
        (:func:`~specvae.candidates.candidate_filter`). Bad records go to ``errors``."""
        candidate_set = Annotator._unfiltered_candidate_set(candidates, errors, spectrum_id_column)
        if formula or elements:
            candidate_set = candidate_set.filtered(candidate_filter(formula, elements))
        return candidate_set

    @staticmethod
    def _unfiltered_candidate_set(candidates: Any, errors: ErrorReport, spectrum_id_column: str | None) -> CandidateSet:
        if isinstance(candidates, CandidateSet):
            return candidates
        if isinstance(candidates, (str, os.PathLike)) or _is_data_frame(candidates):
            if isinstance(candidates, (str, os.PathLike)):
                source = str(candidates)
                entries = read_candidates(candidates, errors, spectrum_id_column=spectrum_id_column)
            else:  # pandas is not imported for this: any object with columns and itertuples reads alike
                source = "<DataFrame>"
                rows = candidates.itertuples(index=False, name=None)
                entries = read_candidate_rows(
                    list(candidates.columns), rows, source, errors, spectrum_id_column=spectrum_id_column
                )
            candidate_set = CandidateSet.from_entries(entries)
            for entry, reason in candidate_set.rejected:
                errors.append(RecordError(source, entry.record, reason, entry.candidate.name))
            return candidate_set
        if isinstance(candidates, (Candidate, Chem.Mol)):
            candidates = [candidates]
        pool = []
        for index, item in enumerate(candidates, start=1):
            try:
                if isinstance(item, Candidate):
                    pool.append(item)
                elif isinstance(item, Chem.Mol):
                    title = item.GetProp("_Name").strip() if item.HasProp("_Name") else ""
                    pool.append(candidate_from_mol(item, identifier=title or str(index), name=title or None))
                else:
                    pool.append(candidate_from_mol(parse_smiles(str(item)), identifier=str(index), smiles=str(item)))
            except (InvalidStructureError, TypeError, ValueError) as error:
                errors.append(RecordError("<candidates>", index, str(error), None))
        return CandidateSet.pool(pool)

    def _candidate_fingerprints(
        self,
        candidates: list[Candidate],
        errors: ErrorReport,
        source: str = "<candidates>",
        retried: set[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Full fingerprint bits of each distinct candidate InChIKey (from the cache when one is set).

        Which candidates get one is decided by :func:`~specvae.fingerprints.candidate_row_fingerprints` (the
        rule ``specvae benchmark`` applies too: SMILES, the InChI when RDKit refuses the SMILES, the molecule
        checked against the stated InChIKey, tautomers accepted); the others go to ``errors`` with the reason.
        The InChIKeys whose fingerprints the main cache does not hold (made from the InChI, or tautomers) are
        added to ``retried`` when it is given.
        """
        keys = [candidate.inchikey for candidate in candidates]
        # A molecule stands in for the SMILES only for a candidate given as one (no SMILES, no InChI): otherwise
        # the rule itself falls back on the InChI.
        structures = [candidate.smiles or (None if candidate.inchi else candidate.mol) for candidate in candidates]
        found = candidate_row_fingerprints(
            keys,
            structures,
            [candidate.inchi for candidate in candidates],
            self.full_fingerprint,
            cache=self.fingerprint_cache,
            n_workers=self.n_workers,
        )
        for error in found.errors:
            candidate = candidates[error.index]
            errors.append(RecordError(source, candidate.identifier, error.reason, candidate.name))
        if retried is not None:
            retried.update(keys[row] for row in np.flatnonzero(found.outside_main_cache))
        return {key: row for key, row, ok in zip(keys, found.fingerprints, found.valid, strict=True) if ok}

    # ---------------------------------------------------------------- annotation
    def annotate(
        self,
        spectra: str | os.PathLike[str] | Spectrum | Iterable[Spectrum],
        candidates: Any,
        *,
        top_k: int | None = 10,
        tolerance_ppm: float = 10.0,
        adduct: str | Adduct | Sequence[str | Adduct] | None = None,
        errors: ErrorReport | None = None,
        spectrum_id_column: str | None = None,
        formula: str | None = None,
        elements: str | None = None,
        collapse_stereo: bool = False,
        explain: bool = False,
    ) -> AnnotationResults:
        """Rank each spectrum's candidates by the cross-entropy between its predicted fingerprint and theirs.

        ``candidates`` is a file (per-spectrum lists with a ``spectrum_id`` column, or one pool filtered by
        neutral mass within ``tolerance_ppm``), a :class:`CandidateSet`, or SMILES strings / RDKit molecules
        (a pool). ``top_k=None`` keeps every candidate. ``adduct``: one adduct for every spectrum, several
        (a list, or ``"[M+H]+,[M+Na]+"``) to try each of the spectrum's ion mode and rank the union, or
        ``None`` for the spectrum's own. ``spectrum_id_column``: the column of per-spectrum lists in a candidate
        table whose column has none of the known names. ``formula`` / ``elements`` (``"CHNOPS"``) keep only
        candidates of that formula / made of those elements. ``collapse_stereo``: one row per InChIKey first
        block (stereoisomers score alike and would fill the top k). ``spectra`` may be a single matchms Spectrum, and
        ``candidates`` a pandas DataFrame with the columns of a candidate table. ``explain``: each ranked row
        gets an :class:`~specvae.explanation.Explanation`, the named bits that most raised and lowered its score
        relative to the list's average candidate (see :mod:`specvae.explanation`).

        Problems go to ``errors``; without it, a :class:`SkippedRecordsWarning` says how many records were left
        out (none is dropped silently).
        """
        with reported_errors(errors, "annotate") as report:
            return self._annotate(
                spectra,
                candidates,
                top_k,
                tolerance_ppm,
                parse_adducts(adduct),
                report,
                self.candidate_set(
                    candidates, report, spectrum_id_column=spectrum_id_column, formula=formula, elements=elements
                ),
                collapse_stereo,
                explain,
            )

    def _annotate(
        self,
        spectra: str | os.PathLike[str] | Spectrum | Iterable[Spectrum],
        candidates: Any,
        top_k: int | None,
        tolerance_ppm: float,
        adduct: list[Adduct] | None,
        errors: ErrorReport,
        candidate_set: CandidateSet,
        collapse_stereo: bool = False,
        explain: bool = False,
    ) -> AnnotationResults:
        source = str(spectra) if isinstance(spectra, (str, os.PathLike)) else "<spectra>"
        queries = self._plan_queries(
            self._spectra_with_ids(spectra, errors), candidate_set, source, tolerance_ppm, adduct, errors
        )
        unique = unique_candidates(queries)
        candidate_source = str(candidates) if isinstance(candidates, (str, os.PathLike)) else "<candidates>"
        fingerprints = self._candidate_fingerprints(unique, errors, candidate_source) if unique else {}

        annotations = []
        for mode, loaded in self.models.items():
            mode_queries = [query for query in queries if query.ion_mode == mode]
            if not mode_queries:
                continue
            probabilities = predict_in_canonical_batches(
                loaded.model, loaded.binner.bin([query.spectrum for query in mode_queries])
            )
            definition = loaded.fingerprint  # a property that parses the definition: once per mode
            confidence = loaded.confidence
            for query, prediction in zip(mode_queries, probabilities, strict=True):
                annotation = score_query(
                    query, prediction, fingerprints, definition, top_k, collapse_stereo, confidence, explain
                )
                if annotation.status == STATUS_NO_FINGERPRINTS:
                    errors.append(RecordError(source, query.spectrum_id, NO_FINGERPRINT_REASON, query.spectrum_id))
                annotations.append(annotation)
        results = in_query_order(annotations, [query.spectrum_id for query in queries])
        results.explained = explain
        return results

    def _plan_queries(
        self,
        spectra_with_ids: Iterable[NumberedSpectrum],
        candidate_set: CandidateSet,
        source: str,
        tolerance_ppm: float,
        adduct: str | Adduct | Sequence[str | Adduct] | None,
        errors: ErrorReport,
    ) -> list[_Query]:
        """Each cleaned spectrum with its model's ion mode and its candidates; the others go to ``errors`` under
        their record number in the input. A spectrum without candidates is reported too, and still planned
        (with no matches), so that it gets a status row in the output."""
        adducts = parse_adducts(adduct)
        queries: list[_Query] = []
        binners: dict[str, SpectrumBinner] = {}
        for identifier, spectrum, record in spectra_with_ids:
            try:
                mode, loaded = self._model_for(spectrum)
                fraction = visible_fraction(binners.setdefault(mode, loaded.binner), spectrum)
                matches = candidate_matches(candidate_set, spectrum, mode, tolerance_ppm, adducts)
            except EmptyCandidateListError as error:
                errors.append(RecordError(source, record, str(error), identifier))
                matches = []
            except SpecvaeError as error:
                errors.append(RecordError(source, record, str(error), identifier))
                continue
            queries.append(_Query(identifier, mode, spectrum, matches, fraction))
        return queries


# ------------------------------------------------------------------------ adducts
def parse_adducts(adduct: str | Adduct | Sequence[str | Adduct] | None) -> list[Adduct] | None:
    """The adducts to try: ``None`` (each spectrum's own), or a list parsed from one adduct, a comma-separated
    text (``"[M+H]+,[M+Na]+"``) or a sequence. Raises :class:`~specvae.errors.UnknownAdductError` (a
    ``ValueError``) for one that cannot be read, before any spectrum is read."""
    if adduct is None:
        return None
    if isinstance(adduct, Adduct):
        return [adduct]
    if isinstance(adduct, str):
        # A comma never occurs inside an adduct name, so it separates adducts.
        texts: list[str | Adduct] = [part.strip() for part in adduct.split(",") if part.strip()]
    else:
        texts = list(adduct)
    if not texts:
        raise ValueError(f"no adduct in {adduct!r}")
    return [as_adduct(text) for text in texts]


def candidate_matches(
    candidate_set: CandidateSet,
    spectrum: Spectrum,
    ion_mode: str,
    tolerance_ppm: float,
    adducts: Sequence[Adduct] | None,
) -> list[CandidateMatch]:
    """The candidates of ``spectrum``, each labelled with the adduct its mass was matched under.

    With several adducts, those of the spectrum's ion mode are tried each and the union is returned; a
    structure found under two adducts appears once, under the one with the smaller mass error. Raises
    :class:`EmptyCandidateListError` when no adduct finds a candidate, and what
    :meth:`CandidateSet.for_spectrum` raises (no precursor m/z, unknown adduct).
    """
    if adducts is None:
        try:
            tried: list[Adduct | None] = [spectrum_adduct(spectrum)]
        except SpecvaeError:
            tried = [None]  # per-spectrum lists rank without one; a pool raises below
    elif len(adducts) == 1:
        tried = list(adducts)
    else:
        tried = [adduct for adduct in adducts if adduct.ion_mode == ion_mode]
        if not tried:
            names = ", ".join(adduct.name for adduct in adducts)
            raise SpecvaeError(f"none of the adducts {names} is of the spectrum's ion mode ({ion_mode})")
    best: dict[str, CandidateMatch] = {}
    empty: list[str] = []
    for adduct in tried:
        try:
            found = candidate_set.for_spectrum(spectrum, tolerance_ppm=tolerance_ppm, adduct=adduct)
        except EmptyCandidateListError as error:
            if len(tried) == 1:
                raise
            empty.append(str(error))
            continue
        for match in found:
            label = adduct.name if adduct is not None and match.mass_error_ppm is not None else None
            labelled = replace(match, adduct=label)
            previous = best.get(match.candidate.inchikey)
            if previous is None or _fits_better(labelled, previous):
                best[match.candidate.inchikey] = labelled
    if not best:
        raise EmptyCandidateListError("; ".join(empty))
    return list(best.values())


def _fits_better(match: CandidateMatch, other: CandidateMatch) -> bool:
    if match.mass_error_ppm is None:
        return False
    return other.mass_error_ppm is None or abs(match.mass_error_ppm) < abs(other.mass_error_ppm)


# ------------------------------------------------------------------------ steps shared with specvae.distributed
def _is_data_frame(candidates: Any) -> bool:
    return hasattr(candidates, "columns") and hasattr(candidates, "itertuples")


def cleaned_records_with_ids(records: Iterable[SpectrumRecord], errors: ErrorReport) -> list[NumberedSpectrum]:
    """The cleaned spectra of a file's records with their identifiers (TITLE, else ``record N``) and record
    numbers; records without a spectrum go to ``errors``."""
    cleaned = []
    for record in records:
        if record.spectrum is None:
            errors.append(record.to_record_error())
            continue
        identifier = spectrum_title(record.spectrum) or f"record {record.record}"
        cleaned.append(NumberedSpectrum(identifier, record.spectrum, record.record))
    return cleaned


def unique_candidates(queries: Iterable[_Query]) -> list[Candidate]:
    """One candidate per InChIKey over all queries, the first met, in the order met."""
    unique: dict[str, Candidate] = {}
    for query in queries:
        for match in query.matches:
            unique.setdefault(match.candidate.inchikey, match.candidate)
    return list(unique.values())


def score_query(
    query: _Query,
    prediction: np.ndarray,
    fingerprints: dict[str, np.ndarray],
    definition: FingerprintDefinition,
    top_k: int | None,
    collapse_stereo: bool = False,
    confidence: ConfidenceModel | None = None,
    explain: bool = False,
) -> SpectrumAnnotation:
    """The ranked candidates of one query; without candidates, or when none of them has a fingerprint, an
    annotation with no ranked rows and the status that says so. ``explain``: each row gets its explanation."""
    usable = [match for match in query.matches if match.candidate.inchikey in fingerprints]
    if not usable:
        status = STATUS_NO_FINGERPRINTS if query.matches else STATUS_NO_CANDIDATES
        return _empty_annotation(query, status)
    bits = definition.select_kept(np.stack([fingerprints[match.candidate.inchikey] for match in usable]))
    scores = score_candidates(prediction, bits)
    annotation = _annotation(query, usable, scores, top_k, collapse_stereo, confidence)
    if explain:
        _add_explanations(annotation, usable, prediction, bits, scores, definition)
    return annotation


def _add_explanations(
    annotation: SpectrumAnnotation,
    matches: list[CandidateMatch],
    prediction: np.ndarray,
    bits: np.ndarray,
    scores: np.ndarray,
    definition: FingerprintDefinition,
) -> None:
    """Attach its explanation to each ranked row (rows and ``matches`` are tied by InChIKey: a list holds
    each structure once)."""
    position_of = {match.candidate.inchikey: position for position, match in enumerate(matches)}
    positions = [position_of[row.inchikey] for row in annotation.ranked]

    def molecule(position: int) -> Chem.Mol | None:
        try:
            return matches[position].candidate.molecule()
        except InvalidStructureError:
            return None

    explanations = explain_candidates(
        prediction,
        bits,
        scores,
        definition,
        positions,
        molecule,
        lambda position: matches[position].candidate.identifier,
        np.lexsort((np.arange(len(scores)), -scores)),
    )
    for row, position in zip(annotation.ranked, positions, strict=True):
        row.explanation = explanations[position]


def in_query_order(annotations: Iterable[SpectrumAnnotation], query_ids: Sequence[str]) -> AnnotationResults:
    """The annotations (made mode by mode) sorted back into the input order of the queries."""
    order = {spectrum_id: position for position, spectrum_id in enumerate(query_ids)}
    results = AnnotationResults(annotations)
    results.sort(key=lambda annotation: order[annotation.spectrum_id])
    return results


def _empty_annotation(query: _Query, status: str) -> SpectrumAnnotation:
    return SpectrumAnnotation(
        query.spectrum_id,
        query.ion_mode,
        len(query.matches),
        status=status,
        precursor_mz=spectrum_precursor_mz(query.spectrum),
        retention_time=spectrum_retention_time(query.spectrum),
        binned_intensity_fraction=query.binned_intensity_fraction,
    )


def _annotation(
    query: _Query,
    matches: list[CandidateMatch],
    scores: np.ndarray,
    top_k: int | None,
    collapse_stereo: bool = False,
    confidence: ConfidenceModel | None = None,
) -> SpectrumAnnotation:
    """The ranked rows of one list. With ``collapse_stereo``, one row per skeleton (the best-scored of its
    stereoisomers, which score alike), ranked among the skeletons; ``n_stereoisomers`` counts the others."""
    skeletons = [match.candidate.inchikey14 for match in matches]
    stereoisomers = Counter(skeletons)
    ranks = rank_scores(scores)
    order = np.lexsort((np.arange(len(scores)), ranks))
    if collapse_stereo:
        seen: set[str] = set()
        best_of_skeleton = []
        for position in order:  # best first: the first of each skeleton is its best-scored stereoisomer
            if skeletons[position] not in seen:
                seen.add(skeletons[position])
                best_of_skeleton.append(position)
        order = np.array(best_of_skeleton, dtype=int)
        ranks = np.zeros(len(scores), dtype=int)
        ranks[order] = rank_scores(scores[order])
    if top_k is not None:
        order = order[:top_k]
    probability = None if confidence is None else rank_one_confidence(confidence, scores, skeletons)
    annotation = _empty_annotation(query, STATUS_OK)
    annotation.n_candidates = len(matches)
    for position in order:
        candidate = matches[position].candidate
        annotation.ranked.append(
            RankedStructure(
                spectrum_id=query.spectrum_id,
                rank=int(ranks[position]),
                score=float(scores[position]),
                identifier=candidate.identifier,
                name=candidate.name,
                inchikey=candidate.inchikey,
                smiles=candidate.smiles,
                molecular_formula=candidate.molecular_formula,
                mass_error_ppm=matches[position].mass_error_ppm,
                n_candidates=len(matches),
                binned_intensity_fraction=query.binned_intensity_fraction,
                adduct=matches[position].adduct,
                precursor_mz=annotation.precursor_mz,
                retention_time=annotation.retention_time,
                confidence=probability if ranks[position] == 1 else None,
                n_stereoisomers=stereoisomers[skeletons[position]],
            )
        )
    return annotation
