"""Which candidates a spectrum is ranked against: per-spectrum lists, or one pool filtered by mass.

- **Per-spectrum** (the CASMI style): every candidate row names its spectrum (``spectrum_id`` /
  ``challenge`` column); a spectrum gets the list whose id equals its TITLE, SPECTRUMID or FEATURE_ID.
- **Pool**: one list for all spectra; a spectrum gets the candidates whose monoisotopic mass is within
  ``tolerance_ppm`` of the neutral mass computed from its precursor m/z and adduct (the spectrum's own
  adduct, else [M+H]+ / [M-H]- by ion mode). The pool is kept sorted by mass, so the lookup is two
  binary searches however large the pool.

In both modes a structure appears once per list: candidates with the same InChIKey are collapsed, the
first one in the file kept (:attr:`CandidateSet.duplicates_dropped` counts the others).

Why InChIKeys are not trusted blindly: a well-formed but wrong key on one row would make the true structure
that carries the same key a "duplicate" and drop it. So when rows sharing a key give different structures,
each is checked against the key (:func:`~specvae.fingerprints.compute.stated_structure_refusal`) before
collapsing, over the whole file; rows that disagree are left out and listed in :attr:`CandidateSet.rejected`.
(A wrong key on a row with no twin is caught where its fingerprint is computed or read from the cache.)

The mass error is ``(observed - candidate) / candidate * 1e6`` ppm, observed being the spectrum's neutral mass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
from matchms import Spectrum

from specvae.adducts import Adduct
from specvae.candidates.candidate import Candidate, CandidateEntry
from specvae.errors import EmptyCandidateListError, InvalidStructureError, RecordError, SpecvaeError
from specvae.spectra.metadata import spectrum_adduct, spectrum_identifiers, spectrum_neutral_mass

DEFAULT_TOLERANCE_PPM = 10.0


class CandidateMatch(NamedTuple):
    """A candidate offered for a spectrum, with the spectrum's neutral mass it is compared with (``None`` when no
    neutral mass is known) and the adduct its mass was matched under (``None`` when none was resolved:
    per-spectrum lists without one).

    The mass error is worked out when asked for: a per-spectrum list is not filtered by mass, and a candidate
    whose file gives no mass would otherwise be parsed only to fill a column of rows nobody prints. An immutable
    named tuple because a run makes one for every candidate of every spectrum (CASMI 2016: 258,237), and a tuple
    is made in a third of the time a frozen dataclass takes.
    """

    candidate: Candidate
    observed_mass: float | None
    adduct: str | None = None

    @property
    def mass_error_ppm(self) -> float | None:
        """``(observed - candidate) / candidate * 1e6``, or None without an observed mass."""
        if self.observed_mass is None:
            return None
        return mass_error_ppm(self.observed_mass, self.candidate.monoisotopic_mass)


def mass_error_ppm(observed_mass: float, candidate_mass: float) -> float:
    """``(observed - candidate) / candidate * 1e6``."""
    return (observed_mass - candidate_mass) / candidate_mass * 1e6


def collapse_duplicates(candidates: Iterable[Candidate]) -> tuple[list[Candidate], int]:
    """The candidates with repeated InChIKeys removed (first kept), and how many were removed."""
    seen: set[str] = set()
    unique = []
    dropped = 0
    for candidate in candidates:
        if candidate.inchikey in seen:
            dropped += 1
            continue
        seen.add(candidate.inchikey)
        unique.append(candidate)
    return unique, dropped


def _structure_text(candidate: Candidate) -> tuple[str | None, str | None]:
    return candidate.smiles, candidate.inchi


def _key_disagreement(candidate: Candidate) -> str | None:
    """Why ``candidate``'s structure is not the one its InChIKey names, or None when they agree."""
    from specvae.fingerprints.compute import stated_structure_refusal  # RDKit-heavy: imported on the rare path

    try:
        mol = candidate.molecule()
    except InvalidStructureError as error:
        return str(error)
    return stated_structure_refusal(candidate.inchikey, candidate.inchi, mol)


def reject_disagreeing_keys(
    entries: Sequence[CandidateEntry | Candidate],
) -> tuple[list[CandidateEntry | Candidate], list[tuple[CandidateEntry | Candidate, str]]]:
    """The entries without those whose structure contradicts an InChIKey another row gives another structure for.

    Only keys given with two or more structure texts are checked (parsing every row would cost minutes on a
    CASMI-size file). Returns ``(kept, rejected)``, ``rejected`` holding each left-out entry with the reason.
    """

    def candidate_of(item: CandidateEntry | Candidate) -> Candidate:
        return item.candidate if isinstance(item, CandidateEntry) else item

    texts: dict[str, set[tuple[str | None, str | None]]] = {}
    for item in entries:
        candidate = candidate_of(item)
        texts.setdefault(candidate.inchikey, set()).add(_structure_text(candidate))
    contested = {key for key, variants in texts.items() if len(variants) > 1}
    if not contested:
        return list(entries), []
    verdicts: dict[tuple[str, tuple[str | None, str | None]], str | None] = {}
    kept, rejected = [], []
    for item in entries:
        candidate = candidate_of(item)
        if candidate.inchikey in contested:
            verdict_key = (candidate.inchikey, _structure_text(candidate))
            if verdict_key not in verdicts:
                verdicts[verdict_key] = _key_disagreement(candidate)
            if verdicts[verdict_key] is not None:
                rejected.append((item, verdicts[verdict_key]))
                continue
        kept.append(item)
    return kept, rejected


BuiltList = tuple[list[Candidate], int, list[RecordError]]
"""A deferred list once built: its candidates, how many repeated InChIKeys it dropped, and its rows' problems."""


class DeferredList:
    """A spectrum's candidate list that is built when first asked for (``build`` returns a :data:`BuiltList`).

    Why: a candidate file holds lists for many spectra, and building the candidates of a list nobody queries
    (checking its rows, parsing those without an InChIKey) is wasted work. The problems found while building are
    handed to whoever asks for the set's problems (:meth:`CandidateSet.take_problems`), so that they are reported
    where the list was needed, in whichever process that is.
    """

    def __init__(self, build: Callable[[], BuiltList]) -> None:
        self._build = build

    def build(self) -> BuiltList:
        return self._build()

    def filtered(self, keep: Callable[[Candidate], bool]) -> DeferredList:
        def build() -> BuiltList:
            candidates, dropped, problems = self._build()
            return [candidate for candidate in candidates if keep(candidate)], dropped, problems

        return DeferredList(build)


class CandidateSet:
    """Candidates for spectra, in per-spectrum or pool mode (build with :meth:`per_spectrum` / :meth:`pool`)."""

    def __init__(
        self,
        *,
        lists: Mapping[str, Sequence[Candidate] | DeferredList] | None = None,
        pool: Sequence[Candidate] | None = None,
        duplicates_dropped: int = 0,
        rejected: Sequence[tuple[CandidateEntry | Candidate, str]] = (),
    ) -> None:
        if (lists is None) == (pool is None):
            raise ValueError("give either per-spectrum lists or a pool")
        self.duplicates_dropped = duplicates_dropped
        self.rejected = list(rejected)  # (entry, reason): rows whose structure contradicts their InChIKey
        self._problems: list[RecordError] = []  # found while building deferred lists, not yet taken
        self.source = "<candidates>"  # the file, when read from one: reports of candidates found bad later name it
        self._lists: dict[str, tuple[Candidate, ...] | DeferredList] | None = (
            None
            if lists is None
            else {key: value if isinstance(value, DeferredList) else tuple(value) for key, value in lists.items()}
        )
        if pool is not None:
            masses = np.array([candidate.monoisotopic_mass for candidate in pool], dtype=np.float64)
            order = np.argsort(masses, kind="stable")
            self._pool: tuple[Candidate, ...] | None = tuple(pool[int(index)] for index in order)
            self._pool_masses = masses[order]
        else:
            self._pool = None
            self._pool_masses = np.empty(0)

    # construction -------------------------------------------------------------------------------------
    @classmethod
    def per_spectrum(cls, entries: Iterable[CandidateEntry]) -> CandidateSet:
        """One list per spectrum id, in file order, without repeated InChIKeys."""
        entries, rejected = reject_disagreeing_keys(list(entries))
        grouped: dict[str, list[Candidate]] = {}
        for entry in entries:
            if entry.spectrum_id is None:
                raise ValueError(f"candidate record {entry.record} names no spectrum: per-spectrum mode needs one")
            grouped.setdefault(entry.spectrum_id, []).append(entry.candidate)
        lists = {}
        dropped = 0
        for spectrum_id, candidates in grouped.items():
            lists[spectrum_id], dropped_here = collapse_duplicates(candidates)
            dropped += dropped_here
        return cls(lists=lists, duplicates_dropped=dropped, rejected=rejected)

    @classmethod
    def pool(cls, entries: Iterable[CandidateEntry | Candidate]) -> CandidateSet:
        """One pool for every spectrum (spectrum ids in the entries, if any, are ignored).

        Candidates whose InChIKey is not known yet (bare SMILES, keys worked out on first use) are kept as they
        are: their repeats are dropped within the mass window that holds them (see
        :func:`specvae.pipeline.planning.settle_keys`), where a repeat has the same mass.
        """
        entries = list(entries)
        candidates = [entry.candidate if isinstance(entry, CandidateEntry) else entry for entry in entries]
        keyed = [entry for entry, candidate in zip(entries, candidates, strict=True) if candidate.key_known]
        deferred = [candidate for candidate in candidates if not candidate.key_known]
        kept, rejected = reject_disagreeing_keys(keyed)
        unique, dropped = collapse_duplicates(
            entry.candidate if isinstance(entry, CandidateEntry) else entry for entry in kept
        )
        return cls(pool=unique + deferred, duplicates_dropped=dropped, rejected=rejected)

    @classmethod
    def from_entries(cls, entries: Sequence[CandidateEntry]) -> CandidateSet:
        """Per-spectrum mode when every entry names a spectrum, pool mode when none does."""
        named = sum(entry.spectrum_id is not None for entry in entries)
        if named == len(entries) and entries:
            return cls.per_spectrum(entries)
        if named == 0:
            return cls.pool(entries)
        raise ValueError(f"{named} of {len(entries)} candidates name a spectrum: expected all or none")

    def filtered(self, keep: Callable[[Candidate], bool]) -> CandidateSet:
        """The same set with only the candidates ``keep`` accepts (e.g. a formula or element filter)."""
        if self._pool is not None:
            kept = [candidate for candidate in self._pool if keep(candidate)]
            subset = CandidateSet(pool=kept, duplicates_dropped=self.duplicates_dropped, rejected=self.rejected)
            subset.source = self.source
            return subset
        lists: dict[str, Sequence[Candidate] | DeferredList] = {
            key: value.filtered(keep) if isinstance(value, DeferredList) else [c for c in value if keep(c)]
            for key, value in (self._lists or {}).items()
        }
        subset = CandidateSet(lists=lists, duplicates_dropped=self.duplicates_dropped, rejected=self.rejected)
        subset.source = self.source
        return subset

    def take_problems(self) -> list[RecordError]:
        """The problems found in the rows of the lists built since the last call (each reported once)."""
        problems, self._problems = self._problems, []
        return problems

    def _list(self, spectrum_id: str) -> tuple[Candidate, ...]:
        """A spectrum id's list, built now when it was deferred."""
        assert self._lists is not None
        value = self._lists[spectrum_id]
        if isinstance(value, DeferredList):
            candidates, dropped, problems = value.build()
            value = self._lists[spectrum_id] = tuple(candidates)
            self.duplicates_dropped += dropped
            self._problems.extend(problems)
        return value

    # queries ------------------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """``"per_spectrum"`` or ``"pool"``."""
        return "pool" if self._pool is not None else "per_spectrum"

    def __len__(self) -> int:
        """Number of candidates (summed over lists in per-spectrum mode)."""
        if self._pool is not None:
            return len(self._pool)
        return sum(len(self._list(spectrum_id)) for spectrum_id in self._lists or {})

    def candidates(self) -> list[Candidate]:
        """Every candidate (pool order, or list after list), deferred lists built, no InChIKey worked out."""
        lists = [self._pool] if self._pool is not None else [self._list(key) for key in self._lists or {}]
        return [candidate for candidates in lists for candidate in candidates]

    def distinct_candidates(self) -> list[Candidate]:
        """Every candidate once per structure (:meth:`Candidate.structure_identity`; the first met: pool order, or
        list after list): what a cache of the set's fingerprints holds. Keys not known yet are worked out (see
        :meth:`Candidate.inchikey`)."""
        distinct: dict[tuple[str, str, str], Candidate] = {}
        for candidate in self.candidates():
            distinct.setdefault(candidate.structure_identity(), candidate)
        return list(distinct.values())

    @property
    def spectrum_ids(self) -> list[str]:
        """The spectrum ids with a candidate list (empty in pool mode)."""
        return list(self._lists or {})

    def candidates_for_spectrum_id(self, spectrum_id: str) -> tuple[Candidate, ...]:
        """The list of one spectrum id (per-spectrum mode)."""
        if self._lists is None:
            raise ValueError("a candidate pool has no per-spectrum lists; use candidates_for(neutral_mass)")
        if spectrum_id not in self._lists:
            raise EmptyCandidateListError(f"no candidate list for spectrum {spectrum_id!r}")
        return self._list(spectrum_id)

    def candidates_for(self, neutral_mass: float, tolerance_ppm: float = DEFAULT_TOLERANCE_PPM) -> list[CandidateMatch]:
        """Pool candidates with ``|mass error| <= tolerance_ppm`` for ``neutral_mass``, in order of mass."""
        if self._pool is None:
            raise ValueError("per-spectrum candidate lists are not filtered by mass; use for_spectrum(spectrum)")
        if tolerance_ppm < 0:
            raise ValueError(f"tolerance_ppm must be >= 0, got {tolerance_ppm}")
        relative = tolerance_ppm * 1e-6
        # |observed - m| <= relative * m  <=>  observed / (1 + relative) <= m <= observed / (1 - relative)
        low = neutral_mass / (1.0 + relative)
        high = neutral_mass / (1.0 - relative) if relative < 1 else np.inf
        start = int(np.searchsorted(self._pool_masses, low, side="left"))
        stop = int(np.searchsorted(self._pool_masses, high, side="right"))
        matches = []
        for index in range(start, stop):
            error = mass_error_ppm(neutral_mass, float(self._pool_masses[index]))
            if abs(error) <= tolerance_ppm * (1 + 1e-9):  # slack for rounding in the subtraction
                matches.append(CandidateMatch(self._pool[index], neutral_mass))
        return matches

    def for_spectrum(
        self,
        spectrum: Spectrum,
        *,
        tolerance_ppm: float = DEFAULT_TOLERANCE_PPM,
        adduct: Adduct | str | None = None,
    ) -> list[CandidateMatch]:
        """The candidates to rank for ``spectrum``; raises :class:`EmptyCandidateListError` when there are none.

        Pool mode needs the spectrum's neutral mass, so it also raises what
        :func:`~specvae.spectra.metadata.spectrum_neutral_mass` raises (unknown adduct, no precursor).
        """
        if self._lists is not None:
            return self._for_spectrum_from_lists(spectrum, adduct)
        observed = spectrum_neutral_mass(spectrum, adduct)
        matches = self.candidates_for(observed, tolerance_ppm)
        if not matches:
            used = adduct if adduct is not None else spectrum_adduct(spectrum)
            name = used.name if isinstance(used, Adduct) else used
            raise EmptyCandidateListError(
                f"no candidate within {tolerance_ppm:g} ppm of neutral mass {observed:.5f} Da ({name})"
            )
        return matches

    def _for_spectrum_from_lists(self, spectrum: Spectrum, adduct: Adduct | str | None) -> list[CandidateMatch]:
        identifiers = spectrum_identifiers(spectrum)
        assert self._lists is not None
        for identifier in identifiers:
            if identifier in self._lists:
                candidates = self._list(identifier)
                break
        else:
            raise EmptyCandidateListError(f"no candidate list for spectrum {identifiers or '(no title)'}")
        try:
            observed: float | None = spectrum_neutral_mass(spectrum, adduct)
        except SpecvaeError:
            observed = None  # the lists are given, not mass-filtered: the mass error is only informative
        return [CandidateMatch(candidate, observed) for candidate in candidates]
