"""The candidate-fingerprint stage: full fingerprints of the distinct candidates the queries need, via the cache.

Which candidates get one is decided by :func:`specvae.fingerprints.candidate_row_fingerprints` (SMILES; the InChI
when RDKit refuses the SMILES; each molecule checked against the stated InChIKey, tautomers accepted); the others
are reported with the reason and stay unscored. Fingerprints are kept bit-packed (303 bytes a structure instead of
2,419), keyed by each candidate's structure (:meth:`~specvae.candidates.Candidate.structure_identity`: its InChIKey
with the SMILES and InChI its row gives, so that two lists giving one InChIKey different tautomers each rank their
own), and unpacked one query at a time (:meth:`CandidateFingerprints.for_candidates`: the query's candidates by
InChIKey, unique within a query), reduced to the scoring model's kept bits: CASMI 2016's 234,864 distinct
candidates take 71 MB packed.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from specvae.candidates import Candidate
from specvae.errors import ErrorReport, RecordError
from specvae.fingerprints import FingerprintCache, FingerprintDefinition, candidate_row_fingerprints
from specvae.fingerprints.candidate_rows import CACHE_BATCH_SIZE


@dataclass
class CandidateFingerprints:
    """Packed full fingerprints by candidate structure; ``failures`` maps the structures without a fingerprint to
    the reason.

    Keys (of ``row_of`` and ``failures``): each candidate's :meth:`~specvae.candidates.Candidate.structure_identity`;
    in the view of one query's candidates (:meth:`for_candidates`), their InChIKeys, which is what the scoring
    stage asks with. ``n_distinct``: structures asked for; ``n_computed``: those the main cache computed now (all
    of them without a cache); ``moved_aside``: damaged caches moved aside (``rebuild_damaged``).
    """

    definition: FingerprintDefinition
    row_of: dict[Hashable, int]
    packed: np.ndarray
    failures: dict[Hashable, str] = field(default_factory=dict)
    n_distinct: int = 0
    n_computed: int = 0
    seconds: float = 0.0
    moved_aside: list[Path] = field(default_factory=list)

    def __contains__(self, key: object) -> bool:
        return key in self.row_of

    def for_candidates(self, candidates: Sequence[Candidate]) -> CandidateFingerprints:
        """The view of one query's candidates, keyed by InChIKey (the first candidate of a key, should one repeat):
        the same packed table, each key's row being its candidate's own structure's."""
        row_of: dict[Hashable, int] = {}
        failures: dict[Hashable, str] = {}
        for candidate in candidates:
            key = candidate.inchikey
            if key in row_of or key in failures:
                continue
            identity = candidate.structure_identity()
            row = self.row_of.get(identity)
            if row is not None:
                row_of[key] = row
            elif identity in self.failures:
                failures[key] = self.failures[identity]
        return CandidateFingerprints(self.definition, row_of, self.packed, failures, n_distinct=len(candidates))

    def packed_rows(self, inchikeys: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
        """``(packed, valid)``: the packed full fingerprints ``(n, n_bytes)`` uint8 of the given InChIKeys, zero rows
        where ``valid`` is False (no fingerprint)."""
        rows = np.fromiter((self.row_of.get(key, -1) for key in inchikeys), dtype=np.int64, count=len(inchikeys))
        valid = rows >= 0
        packed = self.packed[np.where(valid, rows, 0)]
        packed[~valid] = 0
        return packed, valid

    def full_bits(self, inchikeys: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
        """``(bits, valid)``: full fingerprints ``(n, n_bits)`` bool of the given InChIKeys, zero rows where ``valid``
        is False (no fingerprint)."""
        rows = np.fromiter((self.row_of.get(key, -1) for key in inchikeys), dtype=np.int64, count=len(inchikeys))
        valid = rows >= 0
        full = np.unpackbits(self.packed[np.where(valid, rows, 0)], axis=1, count=self.definition.n_bits).view(bool)
        full[~valid] = False
        return full, valid

    def kept_bits(
        self, inchikeys: Sequence[Hashable], model_definition: FingerprintDefinition
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`full_bits`, reduced to the kept bits of ``model_definition`` ``(n, n_kept)``."""
        full, valid = self.full_bits(inchikeys)
        return model_definition.select_kept(full), valid


def candidate_fingerprints(
    candidates: Sequence[Candidate],
    definition: FingerprintDefinition,
    *,
    cache: FingerprintCache | None = None,
    n_workers: int = 1,
    progress: bool | None = None,
    errors: ErrorReport | None = None,
    source: str = "<candidates>",
    batch_size: int = CACHE_BATCH_SIZE,
) -> CandidateFingerprints:
    """Full fingerprints of distinct candidates (one per structure: see
    :func:`~specvae.pipeline.planning.unique_candidates`), through ``cache`` when one is given.

    A candidate refused by the rule goes to ``errors`` as ``(source, its identifier, reason, its name)``. A
    candidate given as a molecule only (no SMILES, no InChI) is fingerprinted from that molecule.
    """
    started = time.perf_counter()
    definition = definition.without_mask()
    if not candidates:
        empty = np.zeros((0, (definition.n_bits + 7) // 8), dtype=np.uint8)
        return CandidateFingerprints(definition, {}, empty, moved_aside=[] if cache is None else cache.moved_aside)
    keys = [candidate.inchikey for candidate in candidates]
    identities = [candidate.structure_identity() for candidate in candidates]
    # A molecule stands in for the SMILES only for a candidate given as one (no SMILES, no InChI): otherwise the
    # rule itself falls back on the InChI.
    structures = [candidate.smiles or (None if candidate.inchi else candidate.mol) for candidate in candidates]
    found = candidate_row_fingerprints(
        keys,
        structures,
        [candidate.inchi for candidate in candidates],
        definition,
        cache=cache,
        n_workers=n_workers,
        packed=True,
        progress=progress,
        batch_size=batch_size,
    )
    if errors is not None:
        for error in found.errors:
            candidate = candidates[error.index]
            errors.append(RecordError(source, candidate.identifier, error.reason, candidate.name))
    return CandidateFingerprints(
        definition=definition,
        row_of={
            identity: row
            for row, (identity, valid) in enumerate(zip(identities, found.valid.tolist(), strict=True))
            if valid
        },
        packed=found.fingerprints,
        failures={identities[error.index]: error.reason for error in found.errors},
        n_distinct=len(keys),
        n_computed=found.n_computed,
        seconds=time.perf_counter() - started,
        moved_aside=found.moved_aside,
    )
