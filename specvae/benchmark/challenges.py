"""What a contest benchmark is made of: challenges, each a spectrum with its candidate list and its answer.

The loaders (:mod:`specvae.benchmark.casmi2016`, :mod:`specvae.benchmark.casmi2017`) read a contest's files into
these objects; the evaluation only sees these objects, never the files.

Candidate lists are columnar (tuples of identifiers, InChIKeys, SMILES, InChIs) rather than lists of
:class:`~specvae.candidates.Candidate`: a CASMI benchmark has a quarter of a million candidates, and building one
object per row costs more than the whole warm-cache benchmark is allowed to take.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from matchms import Spectrum

from specvae.candidates.candidate import inchikey_first_block
from specvae.errors import ErrorReport, SpecvaeError

ION_MODES = ("positive", "negative")


class BenchmarkDataError(SpecvaeError, ValueError):
    """Benchmark files that cannot be used: missing, malformed, inconsistent with each other."""


@dataclass(frozen=True)
class CandidateList:
    """The candidates of one challenge, one entry per distinct InChIKey, in file order (first row kept)."""

    identifiers: tuple[str, ...]
    inchikeys: tuple[str, ...]
    smiles: tuple[str, ...]
    inchis: tuple[str, ...]

    def __post_init__(self) -> None:
        lengths = {len(self.identifiers), len(self.inchikeys), len(self.smiles), len(self.inchis)}
        if len(lengths) != 1:
            raise ValueError("a candidate list needs one identifier, InChIKey, SMILES and InChI per candidate")

    def __len__(self) -> int:
        return len(self.inchikeys)

    @property
    def first_blocks(self) -> tuple[str, ...]:
        """InChIKey first blocks (skeletons): what the answer is matched on."""
        return tuple(key[:14] for key in self.inchikeys)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, str, str]]) -> tuple[CandidateList, int]:
        """From ``(identifier, inchikey, smiles, inchi)`` rows; repeated InChIKeys are dropped (first kept).
        Returns the list and the number of rows dropped."""
        seen: set[str] = set()
        kept: list[tuple[str, str, str, str]] = []
        dropped = 0
        for row in rows:
            if row[1] in seen:
                dropped += 1
                continue
            seen.add(row[1])
            kept.append(row)
        if not kept:
            return cls((), (), (), ()), dropped
        identifiers, inchikeys, smiles, inchis = zip(*kept, strict=True)
        return cls(identifiers, inchikeys, smiles, inchis), dropped


@dataclass
class Challenge:
    """One contest challenge: its (cleaned) spectrum, candidates and answer.

    ``spectrum`` is ``None`` when the challenge's spectrum could not be read or was rejected by cleaning (the
    reason is in the benchmark's ``problems``); such a challenge is counted but cannot be ranked.
    """

    name: str
    ion_mode: str
    spectrum: Spectrum | None
    candidates: CandidateList
    answer_inchikey: str
    answer_smiles: str = ""
    answer_name: str = ""
    category: str = ""
    spectrum_position: int | None = None

    # ``spectrum_position``: the spectrum's place in the contest's spectrum files (in the order they are read, then
    # record by record); None: the challenge's place in the benchmark. The pipeline predicts the spectra of a mode
    # in fixed batches in input order, and a spectrum's last bits depend on its batch neighbours, so the benchmark
    # feeds its spectra in this order: the order of a file that concatenates the contest's files, which is what a
    # user gives ``specvae annotate`` (benchmarks/casmi_through_annotate.py), so both get the same scores.

    @property
    def answer_first_block(self) -> str:
        return inchikey_first_block(self.answer_inchikey)


@dataclass
class BenchmarkData:
    """A loaded benchmark: its challenges in contest order, and where they came from.

    ``files`` maps each file read (relative to ``directory``) to its sha256; ``verified`` says whether those
    were checked against the data manifest, ``verification`` says so in words for the report. ``problems``
    holds records that could not be used.
    """

    name: str
    description: str
    directory: Path
    challenges: list[Challenge]
    files: dict[str, str] = field(default_factory=dict)
    verified: bool = False
    verification: str = ""
    problems: ErrorReport = field(default_factory=ErrorReport)
    duplicate_candidates_dropped: int = 0

    @property
    def n_candidates(self) -> int:
        return sum(len(challenge.candidates) for challenge in self.challenges)

    def answer_first_blocks(self, ion_modes: Collection[str] = ION_MODES) -> set[str]:
        """First blocks of the answers of the challenges in ``ion_modes``."""
        return {challenge.answer_first_block for challenge in self.challenges if challenge.ion_mode in ion_modes}

    def select(self, ion_modes: Collection[str] = ION_MODES, names: Collection[str] | None = None) -> BenchmarkData:
        """The benchmark restricted to some ion modes and (optionally) some challenge names.

        Raises :class:`BenchmarkDataError` for a requested name the benchmark does not have.
        """
        if names is not None:
            known = {challenge.name for challenge in self.challenges}
            unknown = sorted(set(names) - known)
            if unknown:
                raise BenchmarkDataError(f"{self.name}: no challenge named {', '.join(unknown)}")
        chosen = [
            challenge
            for challenge in self.challenges
            if challenge.ion_mode in ion_modes and (names is None or challenge.name in names)
        ]
        return replace(self, challenges=chosen)
