"""The notebook and command-line entry point: spectra in, ranked candidate structures out.

Example (a notebook, with the models shipped in the package)::

    from specvae import Annotator
    annotator = Annotator.pretrained()                      # positive and negative mode models
    results = annotator.annotate("spectra.mgf", "candidates.sdf", top_k=5)
    results.to_dataframe()                                  # needs pandas
    probabilities = annotator.predict_fingerprint(spectra)  # matchms Spectrum objects or a path

Each spectrum is handled by the model of its ion mode. One bad spectrum or candidate never costs the others
their results: it goes to the :class:`~specvae.errors.ErrorReport` with the file, record and reason. The work is
done by :mod:`specvae.pipeline`, whose stages the Dask runner and ``specvae benchmark`` run too; the Annotator
holds the models and the fingerprint cache, and reads what a notebook user hands it.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from matchms import Spectrum

from specvae.adducts import Adduct
from specvae.errors import ErrorReport, RecordError, SpecvaeError
from specvae.fingerprints import FingerprintCache
from specvae.pipeline import iter_annotations
from specvae.pipeline.candidates import candidate_source, read_candidate_set
from specvae.pipeline.models import (
    ION_MODES,
    LoadedModel,
    load_models,
    model_for,
    pretrained_model_path,
    shared_fingerprint,
)
from specvae.pipeline.planning import (
    binned_intensity_fraction,
    candidate_matches,
    parse_adducts,
    visible_fraction,
)
from specvae.pipeline.prediction import PREDICTION_BATCH_SIZE, predict_in_canonical_batches, predict_queries
from specvae.pipeline.query import SpectrumQuery
from specvae.pipeline.ranking import NO_FINGERPRINT_REASON
from specvae.pipeline.results import (
    STATUS_NO_CANDIDATES,
    STATUS_NO_FINGERPRINTS,
    STATUS_OK,
    AnnotationResults,
    RankedStructure,
    SpectrumAnnotation,
)
from specvae.pipeline.spectra import clean_records, read_spectrum_records
from specvae.spectra.records import quiet_matchms

__all__ = [
    "ION_MODES",
    "NO_FINGERPRINT_REASON",
    "PREDICTION_BATCH_SIZE",
    "STATUS_NO_CANDIDATES",
    "STATUS_NO_FINGERPRINTS",
    "STATUS_OK",
    "AnnotationResults",
    "Annotator",
    "LoadedModel",
    "RankedStructure",
    "SkippedRecordsWarning",
    "SpectrumAnnotation",
    "binned_intensity_fraction",
    "candidate_matches",
    "parse_adducts",
    "predict_in_canonical_batches",
    "pretrained_model_path",
    "reported_errors",
    "visible_fraction",
]


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
        self.models = models
        self.full_fingerprint = shared_fingerprint(models)
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
        return cls(load_models(paths), **options)

    @classmethod
    def pretrained(cls, ion_mode: str = "both", **options: Any) -> Annotator:
        """The models shipped with specvae: ``"positive"``, ``"negative"`` or ``"both"``."""
        modes = ION_MODES if ion_mode == "both" else (ion_mode,)
        return cls.load([pretrained_model_path(mode) for mode in modes], **options)

    # ---------------------------------------------------------------- prediction
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
        with quiet_matchms():
            queries = clean_records(read_spectrum_records(spectra), errors)
        served: list[SpectrumQuery] = []
        for query in queries:
            try:
                mode, loaded = model_for(query.spectrum, self.models)
                visible_fraction(loaded.binner, query.spectrum)  # a prediction from an empty input is reported
            except SpecvaeError as error:
                errors.append(RecordError(query.source, query.record, str(error), query.spectrum_id))
                continue
            query.ion_mode = mode
            served.append(query)
        predict_queries(served, self.models)
        predictions: dict[str, dict[str, np.ndarray]] = {}
        for query in served:  # the modes in the order their first spectrum comes
            predictions.setdefault(query.ion_mode, {})[query.spectrum_id] = query.prediction
        return predictions

    # ---------------------------------------------------------------- candidates
    candidate_set = staticmethod(read_candidate_set)
    """The :class:`CandidateSet` of what :meth:`annotate` accepts as ``candidates``: the pipeline's
    :func:`~specvae.pipeline.candidates.read_candidate_set`, so that both read candidates alike."""

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
        out (none is dropped silently). :meth:`iter_annotations` hands out the same results one spectrum at a time.
        """
        with reported_errors(errors, "annotate") as report:
            results = AnnotationResults()
            results.explained = explain
            results.extend(
                self.iter_annotations(
                    spectra,
                    candidates,
                    errors=report,
                    top_k=top_k,
                    tolerance_ppm=tolerance_ppm,
                    adduct=adduct,
                    spectrum_id_column=spectrum_id_column,
                    formula=formula,
                    elements=elements,
                    collapse_stereo=collapse_stereo,
                    explain=explain,
                )
            )
            return results

    def iter_annotations(
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
    ) -> Iterator[SpectrumAnnotation]:
        """:meth:`annotate` as a stream: each spectrum's :class:`SpectrumAnnotation`, in input order, as soon as it
        is ranked, so that a long run shows (or writes) its first results while later spectra are still read. The
        candidates are read when the iteration starts; ``spectra`` may be a generator, read as it goes. The
        annotations are those :meth:`annotate` returns; ``errors`` gets the bad records when the stream ends.

        Example::

            for annotation in annotator.iter_annotations("spectra.mgf", "pool.csv", top_k=5):
                print(annotation.spectrum_id, [row.name for row in annotation.ranked])
        """
        with reported_errors(errors, "iter_annotations") as report:
            adducts = parse_adducts(adduct)  # a bad adduct fails before any file is read
            candidate_set = self.candidate_set(
                candidates, report, spectrum_id_column=spectrum_id_column, formula=formula, elements=elements
            )
            yield from iter_annotations(
                self.models,
                spectra,
                candidate_set,
                report,
                fingerprint_cache=self.fingerprint_cache,
                n_workers=self.n_workers,
                top_k=top_k,
                tolerance_ppm=tolerance_ppm,
                adducts=adducts,
                collapse_stereo=collapse_stereo,
                explain=explain,
                source_of_candidates=candidate_source(candidates),
            )
