"""Computing specvae fingerprints from SMILES or RDKit molecules, in parallel worker processes.

A CASMI-size candidate set is hundreds of thousands of structures at about a millisecond each, so the work is
split into chunks that a ``ProcessPoolExecutor`` computes; workers send back bit-packed rows (8x less to pickle).
A structure that cannot be parsed or fingerprinted does not stop the run: it is reported with its index and the
reason, and its row is all zeros.
"""

from __future__ import annotations

import functools
import multiprocessing
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from typing import NamedTuple

import numpy as np
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import FilterCatalog, MACCSkeys, rdFingerprintGenerator
from tqdm import tqdm

from specvae.fingerprints.definition import FingerprintDefinition

StructureInput = str | Chem.Mol

DEFAULT_CHUNK_SIZE = 256
PROGRESS_THRESHOLD = 5_000


class InvalidSmartsError(ValueError):
    """A functional-group SMARTS key of a fingerprint definition does not compile."""


class InvalidStructureError(ValueError):
    """One structure could not be fingerprinted (raised by ``fingerprint_molecule``)."""


@dataclass(frozen=True)
class InvalidStructure:
    """A structure of the input that got no fingerprint: its position in the input and why.

    ``computed_inchikey`` is set when the structure is fine but is not the one its stated InChIKey names
    (see :func:`inchikey_disagreement`): such a row must not be retried from another representation.
    """

    index: int
    reason: str
    computed_inchikey: str | None = None


def structure_inchikey(mol: Chem.Mol) -> str:
    """RDKit's standard InChIKey of a parsed molecule ("" when RDKit cannot make one)."""
    with rdBase.BlockLogs():
        try:
            return Chem.MolToInchiKey(mol) or ""
        except Exception:  # the InChI library fails on some exotic structures; no key is the answer
            return ""


def inchikey_disagreement(stated: str, mol: Chem.Mol) -> tuple[str, str] | None:
    """``(computed key, reason)`` when ``mol`` is not the structure ``stated`` names, else None.

    Why the first block only: it encodes the skeleton (connectivity, formula), which is all a fingerprint
    sees. The other blocks hold stereo and protonation, and real candidate lists disagree there harmlessly:
    in CASMI 2016, 0.2% of rows state a stereo key for a SMILES without stereo; rejecting them would drop
    true candidates. A wrong skeleton is a different structure, and would inherit another's fingerprint.
    """
    computed = structure_inchikey(mol)
    if not computed:
        return "", f"stated InChIKey {stated} cannot be checked: RDKit computes no InChIKey for the structure"
    if computed[:14] == stated[:14]:
        return None
    return computed, f"stated InChIKey {stated} is not the structure's own InChIKey {computed}"


class FingerprintResult(NamedTuple):
    """``fingerprints``: ``(n, n_bits)`` bool (or ``(n, ceil(n_bits / 8))`` uint8 when packed), input order;
    rows of the structures in ``errors`` are all zeros."""

    fingerprints: np.ndarray
    errors: list[InvalidStructure]


class _Fingerprinter:
    """The compiled generators of one definition; built once per process and reused for every molecule.

    Speed (see ``benchmarks/results/casmi2016/fingerprint_profile.md``): a molecule costs about 0.45 ms of MACCS
    keys, 0.04 ms of Morgan bits and 0.5 ms of functional-group SMARTS when each key is a Python-level
    ``HasSubstructMatch`` call. The keys are therefore matched by one RDKit ``FilterCatalog`` (one C++ call that
    runs every SMARTS, the same ``SubstructMatch`` per key, a quarter faster). The MACCS and Morgan bits reach
    the row as numpy arrays: iterating RDKit's ``GetOnBits`` goes through a Python iterator per set bit, which
    cost 0.05 ms a molecule (about 90 set bits). The bits are unchanged (tests compare them with per-key
    matching on real candidates).
    """

    def __init__(self, definition: FingerprintDefinition) -> None:
        self.definition = definition
        self.n_bits = definition.n_bits
        self.offsets: dict[str, int] = {}
        offset = 0
        for component, size in definition.component_sizes().items():
            self.offsets[component] = offset
            offset += size
        self.morgan = rdFingerprintGenerator.GetMorganGenerator(
            radius=definition.morgan_radius, fpSize=definition.morgan_n_bits
        )
        self.atom_pairs = rdFingerprintGenerator.GetAtomPairGenerator(fpSize=definition.atom_pair_n_bits)
        self.patterns = []
        self.catalog = FilterCatalog.FilterCatalog()
        if "smarts_fg" in definition.components:
            for key_index, (name, smarts) in enumerate(definition.smarts_keys):
                pattern = Chem.MolFromSmarts(smarts)
                if pattern is None:
                    raise InvalidSmartsError(f"functional-group key {name!r}: SMARTS {smarts!r} does not compile")
                self.patterns.append(pattern)
                # minCount=1: the key is set when the group occurs at least once (HasSubstructMatch).
                matcher = FilterCatalog.SmartsMatcher(name, pattern, 1)
                self.catalog.AddEntry(FilterCatalog.FilterCatalogEntry(str(key_index), matcher))

    def fill(self, mol: Chem.Mol, row: np.ndarray) -> None:
        """Set the bits of one sanitised molecule in ``row`` (bool ``(n_bits,)``, all False on entry)."""
        for component, offset in self.offsets.items():
            if component == "maccs":
                maccs = np.zeros(0, dtype=np.uint8)
                DataStructs.ConvertToNumpyArray(MACCSkeys.GenMACCSKeys(mol), maccs)  # resizes to 167
                row[offset : offset + maccs.size] = maccs
            elif component == "morgan":
                row[offset : offset + self.definition.morgan_n_bits] = self.morgan.GetFingerprintAsNumPy(mol)
            elif component == "atom_pair":
                row[offset : offset + self.definition.atom_pair_n_bits] = self.atom_pairs.GetFingerprintAsNumPy(mol)
            else:
                for entry in self.catalog.GetMatches(mol):
                    row[offset + int(entry.GetDescription())] = True

    def fingerprint(self, mol: Chem.Mol) -> np.ndarray:
        """Bool vector ``(n_bits,)`` of one sanitised molecule."""
        bits = np.zeros(self.n_bits, dtype=bool)
        self.fill(mol, bits)
        return bits


@functools.lru_cache(maxsize=4)
def _fingerprinter(definition: FingerprintDefinition) -> _Fingerprinter:
    # Compiling ~200 SMARTS and the Morgan generator costs milliseconds: do it once per process and definition.
    return _Fingerprinter(definition)


def parse_structure(structure: StructureInput) -> tuple[Chem.Mol | None, str | None]:
    """``(sanitised molecule, None)``, or ``(None, reason)`` when the input is not a usable structure.

    A text is a SMILES, or an InChI when it starts with ``InChI=`` (no SMILES does): so a cache can store the
    digest of the InChI a fingerprint was made from, and trust the same text later without parsing it.
    """
    if isinstance(structure, Chem.Mol):
        if structure.GetNumAtoms() == 0:
            return None, "molecule has no atoms"
        return structure, None
    if not isinstance(structure, str):
        return None, f"not a SMILES string or RDKit molecule: {structure!r}"
    if not structure.strip():
        return None, "empty SMILES"
    if structure.startswith(INCHI_PREFIX):
        with rdBase.BlockLogs():
            mol = Chem.MolFromInchi(structure)
        if mol is None or mol.GetNumAtoms() == 0:
            return None, f"invalid InChI {structure[:80]!r}"
        return mol, None
    with rdBase.BlockLogs():  # RDKit would print every failure to stderr; we report them instead.
        mol = Chem.MolFromSmiles(structure, sanitize=False)
        if mol is None:
            return None, f"SMILES could not be parsed: {structure!r}"
        try:
            Chem.SanitizeMol(mol)
        except Exception as error:  # RDKit raises several unrelated types (valence, kekulization, ...)
            return None, f"SMILES {structure!r} does not sanitise: {error}"
    if mol.GetNumAtoms() == 0:
        return None, "molecule has no atoms"
    return mol, None


INCHI_PREFIX = "InChI="


def fingerprint_molecule(structure: StructureInput, definition: FingerprintDefinition) -> np.ndarray:
    """Full fingerprint ``(n_bits,)`` bool of one SMILES or molecule; raises ``InvalidStructureError``."""
    mol, reason = parse_structure(structure)
    if mol is None:
        raise InvalidStructureError(reason)
    return _fingerprinter(definition.without_mask()).fingerprint(mol)


def same_skeleton_as_stated_inchi(stated_inchikey: str, stated_inchi: str | None, mol: Chem.Mol) -> bool:
    """True when a row's own InChI names its stated key and has ``mol``'s formula and connectivity layers.

    Why: InChI's mobile-H handling depends on the tautomer it is given, so the same structure written as
    another tautomer can get another first key block (a CASMI selone, WPWYUEFDODSRMU vs AYLMUGUFZHMFIK). When
    the row's InChI agrees with its key and differs from the structure only after the connectivity layer,
    the row is self-consistent and is not a wrong key.
    """
    if not stated_inchi:
        return False
    with rdBase.BlockLogs():
        try:
            if (Chem.InchiToInchiKey(stated_inchi) or "")[:14] != stated_inchikey[:14]:
                return False
            own = Chem.MolToInchi(mol) or ""
        except Exception:  # the InChI library refuses some inputs: then no agreement is shown
            return False
    return own.split("/")[1:3] == stated_inchi.split("/")[1:3]


def stated_structure_refusal(stated_inchikey: str, stated_inchi: str | None, mol: Chem.Mol) -> str | None:
    """Why ``mol`` may not stand for the structure a candidate row states, or None when it may.

    The one rule every reader of candidate rows applies to a stated InChIKey: the molecule's own InChIKey has the
    stated first block (:func:`inchikey_disagreement`), or the molecule is a tautomer the row's own InChI vouches
    for (:func:`same_skeleton_as_stated_inchi`). Anything else would rank one structure under another's name.
    """
    found = inchikey_disagreement(stated_inchikey, mol)
    if found is None or same_skeleton_as_stated_inchi(stated_inchikey, stated_inchi, mol):
        return None
    return found[1]


def _compute_chunk(
    structures: Sequence[StructureInput],
    definition: FingerprintDefinition,
    start: int,
    expected_inchikeys: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[InvalidStructure]]:
    """Packed fingerprints of one chunk (runs in a worker); ``start`` turns chunk positions into input indices.

    With ``expected_inchikeys``, a structure that is not the one its key names gets no fingerprint: the check
    runs here, on the molecule already parsed, so it costs an InChIKey and no second parse.
    """
    fingerprinter = _fingerprinter(definition)
    rows = np.zeros((len(structures), definition.n_bits), dtype=bool)
    errors: list[InvalidStructure] = []
    for position, structure in enumerate(structures):
        mol, reason = parse_structure(structure)
        if mol is not None and expected_inchikeys is not None:
            disagreement = inchikey_disagreement(expected_inchikeys[position], mol)
            if disagreement is not None:
                errors.append(InvalidStructure(start + position, disagreement[1], disagreement[0]))
                continue
        if mol is not None:
            try:
                fingerprinter.fill(mol, rows[position])
            except Exception as error:  # an RDKit failure on one exotic molecule must not lose the chunk
                reason = f"fingerprint failed: {error}"
        if reason is not None:
            errors.append(InvalidStructure(start + position, reason))
    return np.packbits(rows, axis=1), errors


def _chunks(structures: Sequence[StructureInput], chunk_size: int) -> Iterator[tuple[Sequence[StructureInput], int]]:
    for start in range(0, len(structures), chunk_size):
        yield structures[start : start + chunk_size], start


def _worker_context() -> multiprocessing.context.BaseContext:
    """forkserver on Linux: workers do not inherit the parent's threads (torch, OpenMP), which can deadlock a plain
    fork. The server imports this module (RDKit included) once, so each later pool starts in tens of milliseconds
    instead of re-importing RDKit in every worker (~0.6 s a pool). Elsewhere spawn, the default on Windows/macOS."""
    if not sys.platform.startswith("linux"):
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # "__main__" is the default preload; this only takes effect if the forkserver has not been started yet.
    context.set_forkserver_preload(["__main__", __name__])
    return context


def compute_fingerprints(
    smiles_or_mols: Sequence[StructureInput],
    definition: FingerprintDefinition,
    n_workers: int = 1,
    *,
    packed: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool | None = None,
    expected_inchikeys: Sequence[str] | None = None,
) -> FingerprintResult:
    """Full fingerprints of many structures; invalid ones are reported, not raised.

    With ``expected_inchikeys`` (one per structure), each structure is also checked against its stated key
    (:func:`inchikey_disagreement`); a disagreement is an error with ``computed_inchikey`` set.

    ``n_workers=1`` computes in this process; more starts that many worker processes that take chunks of
    ``chunk_size`` structures (a single chunk is always computed in-process: starting workers would cost more).
    ``packed=True`` returns ``np.packbits(bits, axis=1)`` rows, the form the cache stores. ``progress=None``
    shows a tqdm bar for inputs of ``PROGRESS_THRESHOLD`` structures or more. The mask of ``definition`` is
    ignored here: use ``definition.select_kept`` on the result.

    Example::

        bits, errors = compute_fingerprints(["CC(=O)Oc1ccccc1C(=O)O", "not a smiles"], FingerprintDefinition())
        # bits.shape == (2, definition.n_bits); errors == [InvalidStructure(1, "SMILES could not be parsed: ...")]
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    definition = definition.without_mask()
    _fingerprinter(definition)  # compile the SMARTS keys here, so a bad key fails before any worker starts
    structures = list(smiles_or_mols)
    n_structures = len(structures)
    if expected_inchikeys is not None and len(expected_inchikeys) != n_structures:
        raise ValueError(f"got {n_structures} structures but {len(expected_inchikeys)} expected InChIKeys")
    keys = None if expected_inchikeys is None else list(expected_inchikeys)
    n_bytes = (definition.n_bits + 7) // 8
    packed_rows = np.zeros((n_structures, n_bytes), dtype=np.uint8)
    errors: list[InvalidStructure] = []
    show_progress = n_structures >= PROGRESS_THRESHOLD if progress is None else progress
    with tqdm(total=n_structures, disable=not show_progress, unit="mol", desc="fingerprints") as bar:
        chunks = list(_chunks(structures, chunk_size))
        if n_workers == 1 or len(chunks) <= 1:
            results = (
                _compute_chunk(chunk, definition, start, _slice(keys, start, len(chunk))) for chunk, start in chunks
            )
            _collect(results, chunks, packed_rows, errors, bar)
        else:
            with ProcessPoolExecutor(max_workers=min(n_workers, len(chunks)), mp_context=_worker_context()) as executor:
                results = executor.map(
                    _compute_chunk,
                    [chunk for chunk, _ in chunks],
                    repeat(definition),
                    [start for _, start in chunks],
                    [_slice(keys, start, len(chunk)) for chunk, start in chunks],
                )
                _collect(results, chunks, packed_rows, errors, bar)
    if packed:
        return FingerprintResult(packed_rows, errors)
    return FingerprintResult(np.unpackbits(packed_rows, axis=1, count=definition.n_bits).view(bool), errors)


def _slice(keys: list[str] | None, start: int, length: int) -> list[str] | None:
    return None if keys is None else keys[start : start + length]


def _collect(
    results: Iterator[tuple[np.ndarray, list[InvalidStructure]]],
    chunks: list[tuple[Sequence[StructureInput], int]],
    packed_rows: np.ndarray,
    errors: list[InvalidStructure],
    bar: tqdm,
) -> None:
    for (chunk, start), (chunk_rows, chunk_errors) in zip(chunks, results, strict=True):
        packed_rows[start : start + len(chunk)] = chunk_rows
        errors.extend(chunk_errors)
        bar.update(len(chunk))
