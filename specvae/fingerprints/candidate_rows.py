"""Which fingerprint a candidate row gets: the one rule that ``specvae annotate`` and ``specvae benchmark`` share.

A candidate row states an InChIKey and gives a SMILES and, in most lists, an InChI. The row is ranked under its
key, so it may only get the fingerprint of the structure that key names; a fingerprint of another structure would
rank that structure under the row's name (a decoy inheriting the answer's bits). The rule, in
:func:`candidate_row_fingerprints`:

1. Parse the SMILES (or take the molecule given instead).
2. When it gives no molecule (RDKit refuses it, as it refuses 1,416 CASMI 2016 SMILES written by another toolkit,
   or the row has none), parse the row's InChI instead.
3. Check the molecule against the stated InChIKey's first block (the skeleton,
   :func:`~specvae.fingerprints.compute.inchikey_disagreement`): the row gets the molecule's fingerprint.
4. A molecule with another first block is accepted only as a tautomer of the stated structure: the row's own InChI
   gives the stated key and has the molecule's formula and connectivity layers
   (:func:`~specvae.fingerprints.compute.same_skeleton_as_stated_inchi`; CASMI 2016's selone).
   Steps 3 and 4 are :func:`~specvae.fingerprints.compute.stated_structure_refusal`, the check that the candidate
   readers apply to rows that give one InChIKey two structures.
5. Otherwise the row is refused, with the reason. In particular a SMILES that parses but names another structure
   is **not** retried from the InChI, even when the InChI names the stated key: the row contradicts itself and
   nothing says which half is right.

Each row's fingerprint is a function of the row alone (its key, SMILES and InChI): rows that state one InChIKey
with different structures (CASMI 2016's vardenafil, given as two tautomers) each get their own structure's, in any
order, with or without a cache.

Caching (``cache``): step 1 goes through the cache, which finds a row by key *and* SMILES text (a text stored
under the key was checked when stored and is trusted without a parse; another text under the same key is
computed and stored as a row of its own; failures are remembered per text). Fingerprints made from an InChI go
to a second cache file next to it (:func:`inchi_fallback_cache_path`), because the main cache remembers those
SMILES as failed. Tautomers and key
disagreements are cached nowhere (a few rows, checked again on every run). With or without a cache the answer is
the same.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rdkit import Chem
from tqdm import tqdm

from specvae.fingerprints.cache import FingerprintCache
from specvae.fingerprints.compute import (
    InvalidStructure,
    StructureInput,
    compute_fingerprints,
    parse_structure,
    stated_structure_refusal,
)
from specvae.fingerprints.definition import FingerprintDefinition

CACHE_BATCH_SIZE = 50_000
"""Structures per cache call: each call that adds structures rewrites the cache file once (see the cache's
docstring), and each returns unpacked bits (2,419 bytes a structure), so batches bound both."""

FROM_SMILES = "smiles"
FROM_INCHI = "inchi"
TAUTOMER = "tautomer"


@dataclass(frozen=True)
class CandidateRowFingerprints:
    """What :func:`candidate_row_fingerprints` decided for each row, in input order.

    ``fingerprints``: ``(n, n_bits)`` bool, or ``(n, ceil(n_bits / 8))`` uint8 with ``packed=True``; all zeros
    where ``valid`` is False. ``accepted_as``: per row ``"smiles"`` (the SMILES, or the molecule given, is the
    stated structure), ``"inchi"`` (the SMILES gave no molecule, the InChI's is the stated structure),
    ``"tautomer"`` (step 4 of the rule) or ``""`` (refused). ``errors``: the refused rows with the reason.
    ``n_computed``: structures computed by the main cache (all rows with a structure when there is none).
    """

    fingerprints: np.ndarray
    valid: np.ndarray
    accepted_as: list[str]
    errors: list[InvalidStructure]
    n_computed: int = 0
    moved_aside: list[Path] = field(default_factory=list)

    @property
    def outside_main_cache(self) -> np.ndarray:
        """Rows with a fingerprint that the main cache does not hold (made from the InChI, or tautomers)."""
        return np.array([how in (FROM_INCHI, TAUTOMER) for how in self.accepted_as], dtype=bool)


def inchi_fallback_cache_path(cache_path: str | os.PathLike[str]) -> Path:
    """Where fingerprints computed from InChIs are cached, next to the main cache: ``<name>.from_inchi<suffix>``.

    A separate file because the main cache remembers that the SMILES of these InChIKeys failed (and so never
    recomputes them), while their InChI works: without a cache of their own, each warm run would recompute them
    (1,416 CASMI 2016 candidates, a few seconds).
    """
    path = Path(cache_path)
    return path.with_name(f"{path.stem}.from_inchi{path.suffix}")


def candidate_row_fingerprints(
    inchikeys: Sequence[str],
    structures: Sequence[StructureInput | None],
    inchis: Sequence[str | None],
    definition: FingerprintDefinition,
    *,
    cache: FingerprintCache | None = None,
    n_workers: int = 1,
    packed: bool = False,
    progress: bool | None = None,
    batch_size: int = CACHE_BATCH_SIZE,
) -> CandidateRowFingerprints:
    """Full fingerprints of candidate rows by the rule of this module (see its docstring).

    ``inchikeys``: each row's stated key; ``structures``: its SMILES (or an RDKit molecule; ``""`` / None for
    none); ``inchis``: its InChI (``""`` / None for none). Rows are independent: a repeated row is computed once,
    and rows that give one key different structures each get their own structure's fingerprint. ``cache``: a
    :class:`FingerprintCache` of ``definition`` (its ``rebuild_damaged`` also applies to the InChI fallback cache
    next to it). ``n_workers`` processes compute the SMILES fingerprints; ``packed=True`` returns ``np.packbits``
    rows.

    Example::

        found = candidate_row_fingerprints(keys, smiles, inchis, FingerprintDefinition(), cache=cache)
        refused = {keys[error.index]: error.reason for error in found.errors}
    """
    definition = definition.without_mask()
    if cache is not None and cache.definition != definition:
        raise ValueError(f"{cache.path}: the cache's fingerprint definition is not the one asked for")
    keys = list(inchikeys)
    structures = list(structures)
    inchis = list(inchis)
    if not len(keys) == len(structures) == len(inchis):
        raise ValueError(f"got {len(keys)} InChIKeys, {len(structures)} structures and {len(inchis)} InChIs")
    n_columns = (definition.n_bits + 7) // 8 if packed else definition.n_bits
    fingerprints = np.zeros((len(keys), n_columns), dtype=np.uint8 if packed else bool)
    accepted_as = [""] * len(keys)

    # Step 1: the SMILES (or given molecule), through the main cache.
    rows = [row for row, structure in enumerate(structures) if not _missing(structure)]
    first_errors, n_computed = _from_structures(
        keys, structures, rows, definition, cache, n_workers, packed, progress, batch_size, fingerprints
    )
    for row in rows:
        if row not in first_errors:
            accepted_as[row] = FROM_SMILES

    # Steps 2, 4 and 5 for the rows step 1 refused (a few thousand at most: done here, in this process).
    errors: list[InvalidStructure] = []
    tautomers: list[tuple[int, Chem.Mol]] = []
    to_inchi: dict[int, str] = {}
    for row in range(len(keys)):
        if accepted_as[row]:
            continue
        error = first_errors.get(row)
        if error is not None and error.computed_inchikey is not None:
            # The SMILES may parse to another structure; a cache that holds the key from another text may also
            # report a text that does not parse this way (then it is a parse failure like any other).
            mol, _ = parse_structure(structures[row])
            if mol is not None:
                if stated_structure_refusal(keys[row], inchis[row], mol) is None:
                    tautomers.append((row, mol))
                else:
                    errors.append(error)
                continue
        reason = "no SMILES" if error is None else error.reason
        if inchis[row]:
            to_inchi[row] = reason
        else:
            errors.append(InvalidStructure(row, reason))
    fallback = (
        None
        if cache is None
        else FingerprintCache(inchi_fallback_cache_path(cache.path), definition, rebuild_damaged=cache.rebuild_damaged)
    )
    errors += _from_inchis(keys, inchis, to_inchi, definition, fallback, packed, fingerprints, accepted_as, tautomers)
    errors += _tautomer_fingerprints(tautomers, definition, packed, fingerprints, accepted_as)

    valid = np.array([bool(how) for how in accepted_as], dtype=bool)
    moved_aside = [] if cache is None or fallback is None else cache.moved_aside + fallback.moved_aside
    return CandidateRowFingerprints(
        fingerprints=fingerprints,
        valid=valid,
        accepted_as=accepted_as,
        errors=sorted(errors, key=lambda error: error.index),
        n_computed=n_computed,
        moved_aside=moved_aside,
    )


def _missing(structure: StructureInput | None) -> bool:
    return structure is None or (isinstance(structure, str) and not structure.strip())


def _from_structures(
    keys: list[str],
    structures: list[StructureInput | None],
    rows: list[int],
    definition: FingerprintDefinition,
    cache: FingerprintCache | None,
    n_workers: int,
    packed: bool,
    progress: bool | None,
    batch_size: int,
    fingerprints: np.ndarray,
) -> tuple[dict[int, InvalidStructure], int]:
    """Step 1 of the rule for ``rows`` (into ``fingerprints``); returns the refusals by row and ``n_computed``."""
    errors: dict[int, InvalidStructure] = {}
    if not rows:
        return errors, 0
    if cache is None:
        # The stated keys are checked as the cache checks them, so a cache never changes the result.
        result = compute_fingerprints(
            [structures[row] for row in rows],
            definition,
            n_workers,
            packed=packed,
            progress=progress,
            expected_inchikeys=[keys[row] for row in rows],
        )
        fingerprints[rows] = result.fingerprints
        for error in result.errors:
            errors[rows[error.index]] = _at(error, rows[error.index])
        return errors, len(rows)
    n_computed = 0
    rows = [rows[position] for position in cache.storage_order([keys[row] for row in rows])]
    # Reading and checking a long request's rows takes seconds (CASMI 2016: 234,742 rows, 1-3 s), hence a bar;
    # it appears only after two seconds, so that the short lookups of a stream's chunks do not flash one each.
    disable = None if progress is None else not progress
    with tqdm(
        total=len(rows), desc="fingerprint cache", unit=" structures", disable=disable, delay=2, mininterval=2
    ) as bar:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            found = cache.lookup(
                [keys[row] for row in batch],
                [structures[row] for row in batch],
                n_workers,
                progress=progress,
                packed=packed,
            )
            fingerprints[batch] = found.fingerprints
            for error in found.errors:
                errors[batch[error.index]] = _at(error, batch[error.index])
            n_computed += found.n_computed
            bar.update(len(batch))
    return errors, n_computed


def _from_inchis(
    keys: list[str],
    inchis: list[str | None],
    reasons: dict[int, str],
    definition: FingerprintDefinition,
    cache: FingerprintCache | None,
    packed: bool,
    fingerprints: np.ndarray,
    accepted_as: list[str],
    tautomers: list[tuple[int, Chem.Mol]],
) -> list[InvalidStructure]:
    """Steps 2 to 5 for the rows whose SMILES gave no molecule (``reasons``: why, by row); tautomers found here
    are appended to ``tautomers``; returns the refusals.

    The InChI texts themselves go to the cache (and to the computation), which reads a text starting with
    ``InChI=`` as an InChI: a text stored before is then trusted without parsing it again.
    """
    errors: list[InvalidStructure] = []
    rows = [row for row in reasons if inchis[row]]
    if not rows:
        return errors
    row_keys = [keys[row] for row in rows]
    texts = [str(inchis[row]) for row in rows]
    if cache is not None:
        found = cache.lookup(row_keys, texts, 1, progress=False, packed=packed)
        bits = found.fingerprints
        failed = {error.index: error for error in found.errors}
    else:
        result = compute_fingerprints(texts, definition, 1, packed=packed, progress=False, expected_inchikeys=row_keys)
        bits = result.fingerprints
        failed = {error.index: error for error in result.errors}
    for position, row in enumerate(rows):
        error = failed.get(position)
        if error is None:
            fingerprints[row] = bits[position]
            accepted_as[row] = FROM_INCHI
            continue
        if error.computed_inchikey is not None:
            mol, _ = parse_structure(texts[position])
            if mol is not None and stated_structure_refusal(keys[row], inchis[row], mol) is None:
                tautomers.append((row, mol))
                continue
        errors.append(InvalidStructure(row, f"{reasons[row]}; from the InChI: {error.reason}", error.computed_inchikey))
    return errors


def _tautomer_fingerprints(
    tautomers: list[tuple[int, Chem.Mol]],
    definition: FingerprintDefinition,
    packed: bool,
    fingerprints: np.ndarray,
    accepted_as: list[str],
) -> list[InvalidStructure]:
    """Step 4: the molecule's own fingerprint (no key check: it is known to differ); returns the failures."""
    if not tautomers:
        return []
    result = compute_fingerprints([mol for _, mol in tautomers], definition, 1, packed=packed, progress=False)
    failed = {error.index: error for error in result.errors}
    errors = []
    for position, (row, _) in enumerate(tautomers):
        if position in failed:
            errors.append(InvalidStructure(row, failed[position].reason))
        else:
            fingerprints[row] = result.fingerprints[position]
            accepted_as[row] = TAUTOMER
    return errors


def _at(error: InvalidStructure, row: int) -> InvalidStructure:
    return InvalidStructure(row, error.reason, error.computed_inchikey)
