"""The planning stage: each cleaned spectrum gets its model (by ion mode) and its candidates.

A spectrum's candidates are its own list (per-spectrum candidate files) or the pool's structures within
``tolerance_ppm`` of its neutral mass, under each adduct tried (:func:`candidate_matches`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
from matchms import Spectrum
from tqdm import tqdm

from specvae.adducts import Adduct, as_adduct
from specvae.candidates import Candidate, CandidateMatch, CandidateSet
from specvae.errors import EmptyCandidateListError, ErrorReport, InvalidStructureError, RecordError, SpecvaeError
from specvae.pipeline.models import LoadedModel, model_for
from specvae.pipeline.query import SpectrumQuery
from specvae.spectra.binning import SpectrumBinner
from specvae.spectra.metadata import spectrum_adduct


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
    settle: Callable[[list[CandidateMatch]], list[CandidateMatch]] | None = None,
) -> list[CandidateMatch]:
    """The candidates of ``spectrum``, each labelled with the adduct its mass was matched under.

    With several adducts, those of the spectrum's ion mode are tried each and the union is returned; a
    structure found under two adducts appears once, under the one with the smaller mass error. ``settle``
    (:func:`settle_keys`) gives each adduct's matches their InChIKeys when a pool's rows state none. Raises
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
            if settle is not None:
                found = settle(found)
        except EmptyCandidateListError as error:
            if len(tried) == 1:
                raise
            empty.append(str(error))
            continue
        if len(tried) == 1:
            if adduct is None:
                return found
            label = adduct.name
            return [
                CandidateMatch(match.candidate, match.observed_mass, label)
                if match.observed_mass is not None
                else match
                for match in found
            ]
        for match in found:
            label = adduct.name if adduct is not None and match.observed_mass is not None else None
            labelled = match._replace(adduct=label)
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


def plan_queries(
    queries: Iterable[SpectrumQuery],
    models: Mapping[str, LoadedModel],
    candidate_set: CandidateSet,
    tolerance_ppm: float,
    adducts: Sequence[Adduct] | None,
    errors: ErrorReport,
    stored_keys: Callable[[Sequence[str]], list[str | None]] | None = None,
    progress: bool | None = None,
) -> list[SpectrumQuery]:
    """Each query with its model's ion mode, its visible intensity share and its candidates; a spectrum without a
    model, a precursor mass or any visible peak goes to ``errors`` under its record number and is dropped. One
    without candidates is reported too, and kept (with no matches), so that it gets a status row in the output.
    The bad rows of a candidate list are reported when the first spectrum that needs the list is planned.
    ``stored_keys`` (a fingerprint cache's :meth:`~specvae.fingerprints.FingerprintCache.stored_keys`) spares
    the parse that works out the key of a pool row stating none. Planning builds the candidate lists, seconds for a
    large table (CASMI 2016: about 3 s), hence the bar (``progress``: None shows it on a terminal)."""
    return list(
        iter_plan_queries(queries, models, candidate_set, tolerance_ppm, adducts, errors, stored_keys, progress)
    )


def iter_plan_queries(
    queries: Iterable[SpectrumQuery],
    models: Mapping[str, LoadedModel],
    candidate_set: CandidateSet,
    tolerance_ppm: float,
    adducts: Sequence[Adduct] | None,
    errors: ErrorReport,
    stored_keys: Callable[[Sequence[str]], list[str | None]] | None = None,
    progress: bool | None = None,
    description: str = "planning spectra",
) -> Iterator[SpectrumQuery]:
    """:func:`plan_queries` one query at a time, so that the later stages can start on the first spectra while
    the others are still read. The bar (``description``) counts the queries taken from ``queries``."""
    binners: dict[str, SpectrumBinner] = {}

    def settle(matches: list[CandidateMatch]) -> list[CandidateMatch]:
        return settle_keys(matches, candidate_set.source, errors, stored_keys)

    disable = None if progress is None else not progress
    for query in tqdm(queries, desc=description, unit=" spectra", disable=disable, mininterval=2):
        try:
            mode, loaded = model_for(query.spectrum, models)
            fraction = visible_fraction(binners.setdefault(mode, loaded.binner), query.spectrum)
            matches = candidate_matches(candidate_set, query.spectrum, mode, tolerance_ppm, adducts, settle)
        except EmptyCandidateListError as error:
            errors.extend(candidate_set.take_problems())
            errors.append(RecordError(query.source, query.record, str(error), query.spectrum_id))
            matches = []
        except SpecvaeError as error:
            errors.extend(candidate_set.take_problems())
            errors.append(RecordError(query.source, query.record, str(error), query.spectrum_id))
            continue
        errors.extend(candidate_set.take_problems())  # the bad rows of the candidate list this spectrum needed
        query.ion_mode, query.matches, query.binned_intensity_fraction = mode, matches, fraction
        yield query


def settle_keys(
    matches: list[CandidateMatch],
    source: str,
    errors: ErrorReport,
    stored_keys: Callable[[Sequence[str]], list[str | None]] | None = None,
) -> list[CandidateMatch]:
    """The matches with every candidate's InChIKey known, each key once.

    A pool of bare SMILES is indexed by mass without parsing its rows (:mod:`specvae.candidates.table_set`); the
    rows a spectrum's mass window holds get their keys here: from ``stored_keys`` when a cache stored the very same
    SMILES text under a key (no parse), else from a full parse. A row that does not parse is reported once (to
    ``errors``, under ``source`` and its record) and left out. Rows that turn out to repeat a key (they have the same
    mass, so they meet in the same windows) are dropped but the earliest in the file, as a pool with stated keys drops
    them when it is read.
    """
    pending = [match.candidate for match in matches if not match.candidate.key_known]
    if not pending:
        return matches
    if stored_keys is not None:
        texts = [candidate.smiles or "" for candidate in pending]
        for candidate, key in zip(pending, stored_keys(texts), strict=True):
            if key is not None:
                candidate.settle_key(key)
    settled = []
    for match in matches:
        candidate = match.candidate
        if not candidate.key_known:
            reported_before = candidate.key_problem is not None
            try:
                candidate.inchikey  # noqa: B018 - works the key out
            except InvalidStructureError as error:
                if not reported_before:
                    record = candidate.record if candidate.record is not None else candidate.label
                    errors.append(RecordError(source, record, str(error), candidate.name))
                continue
        settled.append(match)
    earliest: dict[str, CandidateMatch] = {}
    for match in settled:
        previous = earliest.get(match.candidate.inchikey)
        if previous is None or _row_of(match) < _row_of(previous):
            earliest[match.candidate.inchikey] = match
    return [match for match in settled if earliest[match.candidate.inchikey] is match]


def _row_of(match: CandidateMatch) -> float:
    return math.inf if match.candidate.record is None else match.candidate.record


def unique_candidates(queries: Iterable[SpectrumQuery]) -> list[Candidate]:
    """One candidate per distinct structure over all queries (:meth:`Candidate.structure_identity`: the InChIKey
    and the SMILES and InChI the row gives), the first met, in the order met: what needs a fingerprint.

    Not one per InChIKey: two lists may give one key different structures (tautomers), and each is ranked with its
    own (a query reads its candidates' rows through
    :meth:`~specvae.pipeline.fingerprints.CandidateFingerprints.for_candidates`)."""
    unique: dict[tuple[str, str, str], Candidate] = {}
    for query in queries:
        for match in query.matches:
            unique.setdefault(match.candidate.structure_identity(), match.candidate)
    return list(unique.values())
