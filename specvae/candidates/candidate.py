"""A candidate structure, and the RDKit calls that turn SMILES / InChI / molfile records into one.

Parsing 258,808 SMILES with RDKit takes minutes, and a ranking needs a molecule only to compute a
fingerprint (which a cache usually already holds). So a :class:`Candidate` built from a file that states its
InChIKey keeps only the SMILES text and parses it on first use (:meth:`Candidate.molecule`); its formula and
mass, when the file does not state them, are read off the SMILES on first use without a full parse
(:func:`structure_formula_and_mass`). One built from a bare SMILES is parsed at once, because its InChIKey
must be computed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from rdkit import Chem
from rdkit.Chem import Descriptors, rdMolDescriptors
from rdkit.rdBase import BlockLogs

from specvae.errors import InvalidStructureError

INCHIKEY_PATTERN = re.compile(r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$")


def inchikey_first_block(inchikey: str) -> str:
    """The 14-character skeleton block of an InChIKey (stereo- and charge-insensitive)."""
    return inchikey.strip().upper().split("-")[0]


class Candidate:
    """One candidate structure.

    ``inchikey`` identifies the structure (duplicates are collapsed on it), ``monoisotopic_mass`` (Da,
    RDKit's ``ExactMolWt``: the mass of the structure as written, charged structures minus their electrons)
    is what the pool mode filters on. ``mol`` is the parsed molecule when one exists; use
    :meth:`molecule`, which parses the SMILES (or InChI) on first use.

    ``molecular_formula`` and ``monoisotopic_mass`` may be left out when the structure is given: they are then
    worked out on first use (:func:`structure_formula_and_mass`), so that a list whose rows state their InChIKey
    costs no structure parse until a row's formula, mass or fingerprint is asked for. The InChIKey may be left out
    too (a pool of bare SMILES): it is then worked out with a full parse when first asked for (:meth:`settle_key`
    gives it one known otherwise), and ``identifier`` defaults to it. ``record`` is the row's number in its file,
    when it came from one. Slots: a pool holds a million of these.
    """

    __slots__ = (
        "_identifier",
        "name",
        "smiles",
        "_inchikey",
        "inchi",
        "mol",
        "_molecular_formula",
        "_monoisotopic_mass",
        "record",
        "_key_problem",
    )

    def __init__(
        self,
        identifier: str | None,
        name: str | None,
        smiles: str | None,
        inchikey: str | None,
        molecular_formula: str | None = None,
        monoisotopic_mass: float | None = None,
        inchi: str | None = None,
        mol: Chem.Mol | None = None,
        record: int | None = None,
    ) -> None:
        self._identifier = identifier or None
        self.name = name
        self.smiles = smiles
        self._inchikey = inchikey or None
        self.inchi = inchi
        self.mol = mol
        self._molecular_formula = molecular_formula or None
        self._monoisotopic_mass = monoisotopic_mass
        self.record = record
        self._key_problem: str | None = None
        if self._inchikey is None and not (smiles or inchi or mol is not None):
            raise InvalidStructureError("no InChIKey and no structure to work one out from")

    def _fields(self) -> tuple:
        return (
            self._identifier,
            self.name,
            self.smiles,
            self._inchikey,
            self._molecular_formula,
            self._monoisotopic_mass,
            self.inchi,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Candidate):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # mutable (the molecule and the lazy fields are filled in on use), like the dataclass it was

    def __repr__(self) -> str:
        return (
            f"Candidate(identifier={self._identifier!r}, name={self.name!r}, smiles={self.smiles!r}, "
            f"inchikey={self._inchikey!r}, molecular_formula={self._molecular_formula!r}, "
            f"monoisotopic_mass={self._monoisotopic_mass!r}, inchi={self.inchi!r})"
        )

    @property
    def identifier(self) -> str:
        """The identifier the file gives, else the InChIKey."""
        return self._identifier or self.inchikey

    @identifier.setter
    def identifier(self, value: str) -> None:
        self._identifier = value or None

    @property
    def inchikey(self) -> str:
        """The InChIKey as stated, or worked out on first use (raises :class:`InvalidStructureError` when the
        structure cannot be read)."""
        if self._inchikey is None:
            self._work_out_key()
        return self._inchikey

    def structure_identity(self) -> tuple[str, str, str]:
        """What the candidate's fingerprint is a function of: its stated InChIKey, its SMILES and its InChI (for a
        candidate given as a molecule only, the molecule's canonical SMILES, marked so that no SMILES text equals it).

        Why not the InChIKey alone: rows of different lists can state one key with different structures (CASMI 2016
        gives vardenafil's key with two tautomers, whose fingerprints differ), and each row is ranked with the
        structure it gives, so one list's row never changes another list's result. Two rows with the same identity
        get the same fingerprint (:func:`~specvae.fingerprints.candidate_row_fingerprints` reads only these three).
        """
        smiles = self.smiles or ""
        if not smiles and not self.inchi and self.mol is not None:
            smiles = "\x00molecule " + Chem.MolToSmiles(self.mol)
        return (self.inchikey, smiles, self.inchi or "")

    @property
    def key_known(self) -> bool:
        """Whether the InChIKey is known without parsing the structure."""
        return self._inchikey is not None

    def settle_key(self, inchikey: str) -> None:
        """Give a candidate without a stated key the one it is known by (a cache stored this very SMILES text under
        it), so that no parse is needed to work it out."""
        if self._inchikey is None:
            self._inchikey = inchikey

    @property
    def key_problem(self) -> str | None:
        """Why the InChIKey could not be worked out, once that was tried and failed; None otherwise."""
        return self._key_problem

    @property
    def label(self) -> str:
        """How reports name the candidate before its InChIKey is known: its identifier, its row, or its SMILES."""
        if self._identifier:
            return self._identifier
        if self._inchikey:
            return self._inchikey
        return f"record {self.record}" if self.record is not None else (self.smiles or self.inchi or "")[:60]

    @property
    def inchikey14(self) -> str:
        """The InChIKey's first block (the skeleton: stereo-isomers share it)."""
        return self.inchikey.split("-", 1)[0]

    @property
    def molecular_formula(self) -> str:
        """The formula, as stated or worked out from the structure on first use (raises
        :class:`InvalidStructureError` when the structure cannot be read)."""
        if self._molecular_formula is None:
            self._work_out_formula_and_mass()
        return self._molecular_formula

    @property
    def monoisotopic_mass(self) -> float:
        """The monoisotopic mass in Da, as stated or worked out from the structure on first use."""
        if self._monoisotopic_mass is None:
            self._work_out_formula_and_mass()
        return self._monoisotopic_mass

    def _work_out_formula_and_mass(self) -> None:
        try:
            self.fill_formula_and_mass()
        except InvalidStructureError as error:
            raise InvalidStructureError(f"candidate {self.label!r}: {error}") from None

    def fill_formula_and_mass(self) -> None:
        """Work out the formula and mass the row does not state now (:func:`structure_formula_and_mass`); raises
        :class:`InvalidStructureError` saying why the structure cannot be read."""
        if self._molecular_formula is not None and self._monoisotopic_mass is not None:
            return
        formula, mass = structure_formula_and_mass(self.smiles, self.inchi, self.mol)
        if self._molecular_formula is None:
            self._molecular_formula = formula
        if self._monoisotopic_mass is None:
            self._monoisotopic_mass = mass

    def _work_out_key(self) -> None:
        """The InChIKey from a full parse (the molecule is not kept); a failure is remembered and raised again."""
        if self._key_problem is None:
            try:
                mol = self.mol if self.mol is not None else parse_structure(self.smiles, self.inchi)
                key, formula, mass = structure_properties(mol)
            except InvalidStructureError as error:
                self._key_problem = str(error)
            else:
                self._inchikey = key
                if self._molecular_formula is None:
                    self._molecular_formula = formula
                if self._monoisotopic_mass is None:
                    self._monoisotopic_mass = mass
                return
        raise InvalidStructureError(self._key_problem)

    def molecule(self) -> Chem.Mol:
        """The RDKit molecule, parsed on first call (see :func:`parse_structure`) and then kept.

        Raises :class:`InvalidStructureError` when neither the SMILES nor the InChI can be parsed.
        """
        if self.mol is None:
            try:
                self.mol = parse_structure(self.smiles, self.inchi)
            except InvalidStructureError as error:
                raise InvalidStructureError(f"candidate {self.identifier!r}: {error}") from None
        return self.mol


@dataclass(frozen=True)
class CandidateEntry:
    """A candidate as read from a file: its 1-based record number and, in per-spectrum files, the spectrum."""

    record: int
    spectrum_id: str | None
    candidate: Candidate


def parse_smiles(smiles: str) -> Chem.Mol:
    """RDKit molecule of a SMILES, or :class:`InvalidStructureError` saying why RDKit refuses it."""
    with BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
        if mol is not None:
            return mol
        # Parse again without sanitising to tell a syntax error from a chemistry error (e.g. valence).
        unsanitised = Chem.MolFromSmiles(smiles, sanitize=False)
        if unsanitised is None:
            raise InvalidStructureError(f"invalid SMILES {smiles[:80]!r}: syntax error")
        try:
            Chem.SanitizeMol(unsanitised)
        except Exception as error:  # RDKit raises several sanitisation exception types
            raise InvalidStructureError(f"invalid SMILES {smiles[:80]!r}: {error}") from None
        raise InvalidStructureError(f"invalid SMILES {smiles[:80]!r}")


def parse_inchi(inchi: str) -> Chem.Mol:
    """RDKit molecule of an InChI, or :class:`InvalidStructureError`."""
    with BlockLogs():
        mol = Chem.MolFromInchi(inchi)
    if mol is None:
        raise InvalidStructureError(f"invalid InChI {inchi[:80]!r}")
    return mol


def parse_structure(smiles: str | None, inchi: str | None = None) -> Chem.Mol:
    """The molecule of a SMILES, falling back on the InChI when RDKit refuses the SMILES.

    Why the fallback: candidate lists carry both, and some SMILES that another toolkit wrote cannot be
    kekulised by RDKit (CASMI 2016 has such rows) while the InChI of the same structure reads fine.
    """
    if not smiles and not inchi:
        raise InvalidStructureError("no SMILES and no InChI")
    if not smiles:
        return parse_inchi(inchi or "")
    try:
        return parse_smiles(smiles)
    except InvalidStructureError as smiles_error:
        if not inchi:
            raise
        try:
            return parse_inchi(inchi)
        except InvalidStructureError as inchi_error:
            raise InvalidStructureError(f"{smiles_error}; {inchi_error}") from None


def structure_properties(mol: Chem.Mol) -> tuple[str, str, float]:
    """``(inchikey, molecular_formula, monoisotopic_mass)`` computed by RDKit."""
    with BlockLogs():
        inchikey = Chem.MolToInchiKey(mol)
    if not inchikey:
        raise InvalidStructureError("RDKit cannot compute an InChIKey for this structure")
    return inchikey, rdMolDescriptors.CalcMolFormula(mol), float(Descriptors.ExactMolWt(mol))


def structure_formula_and_mass(
    smiles: str | None, inchi: str | None = None, mol: Chem.Mol | None = None
) -> tuple[str, float]:
    """``(molecular_formula, monoisotopic_mass)`` of a structure, as RDKit's ``CalcMolFormula`` and ``ExactMolWt``
    give them for the sanitised molecule.

    The SMILES is read without sanitising (no aromaticity perception, no kekulisation, no InChIKey): a twentieth of
    what a full parse and key cost, and the implicit hydrogens, hence formula and mass, come out the same (checked
    on every CASMI 2016 candidate, ``tests/specvae/candidates/test_candidate_readers.py``). That is what makes a
    pool of bare SMILES indexable by mass in one pass. The InChI stands in when the SMILES does not read; the
    molecule is not kept (a pool of parsed molecules is what made large SMILES files need gigabytes).
    """
    if mol is None and smiles:
        with BlockLogs():
            mol = Chem.MolFromSmiles(smiles, sanitize=False)
            if mol is not None:
                try:
                    mol.UpdatePropertyCache(strict=False)
                except Exception:  # RDKit raises assorted types on odd valences; then the full parse says why
                    mol = None
    if mol is None:
        mol = parse_structure(smiles, inchi)
    return rdMolDescriptors.CalcMolFormula(mol), float(Descriptors.ExactMolWt(mol))


def candidate_from_mol(
    mol: Chem.Mol,
    *,
    identifier: str | None = None,
    name: str | None = None,
    smiles: str | None = None,
    inchikey: str | None = None,
) -> Candidate:
    """A candidate with InChIKey, formula and mass computed from ``mol`` (a stated valid InChIKey is kept)."""
    computed_key, formula, mass = structure_properties(mol)
    key = inchikey if inchikey and INCHIKEY_PATTERN.match(inchikey) else computed_key
    if smiles is None:
        smiles = Chem.MolToSmiles(mol)
    return Candidate(
        identifier=identifier or key,
        name=name,
        smiles=smiles,
        inchikey=key,
        molecular_formula=formula,
        monoisotopic_mass=mass,
        mol=mol,
    )


def candidate_from_fields(
    *,
    smiles: str | None,
    inchi: str | None = None,
    identifier: str | None = None,
    name: str | None = None,
    inchikey: str | None = None,
    molecular_formula: str | None = None,
    monoisotopic_mass: str | float | None = None,
    parse: bool = False,
    defer_key: bool = False,
    record: int | None = None,
) -> Candidate:
    """A candidate from the fields of a table row or a SMILES line.

    When a well-formed ``inchikey`` is given and ``parse`` is false, the row is trusted and nothing is parsed now:
    the formula and mass, when not given, are worked out on first use (:func:`structure_formula_and_mass`), the
    molecule when a fingerprint is computed. Without a key, ``defer_key`` (and not ``parse``) leaves the key to be
    worked out when first asked for (a pool of bare SMILES, indexed by mass first); otherwise the structure is
    parsed now (:func:`parse_structure`) and InChIKey, formula and mass are computed. Raises
    :class:`InvalidStructureError` for an unparseable structure (when parsed now) or a row without one.
    """
    smiles = (smiles or "").strip() or None
    inchi = (inchi or "").strip() or None
    if smiles is None and inchi is None:
        raise InvalidStructureError("no SMILES and no InChI")
    key = (inchikey or "").strip().upper()
    mass = stated_mass(monoisotopic_mass)
    formula = (molecular_formula or "").strip()
    if not parse and INCHIKEY_PATTERN.match(key):
        return Candidate(
            identifier=identifier or key,
            name=name,
            smiles=smiles,
            inchikey=key,
            molecular_formula=formula or None,
            monoisotopic_mass=mass,
            inchi=inchi,
            record=record,
        )
    if defer_key and not parse:
        return Candidate(identifier, name, smiles, None, formula or None, mass, inchi, record=record)
    mol = parse_structure(smiles, inchi)
    candidate = candidate_from_mol(mol, identifier=identifier, name=name, smiles=smiles, inchikey=key or None)
    candidate.inchi = inchi
    candidate.mol = None  # the text stays: a fingerprint is made from it, and a pool of molecules takes gigabytes
    candidate.record = record
    return candidate


def stated_mass(value: str | float | None) -> float | None:
    """A mass column's value in Da, or None when it is empty, no number, not finite or not positive."""
    try:
        mass = float(value) if value is not None and str(value).strip() else None
    except ValueError:
        return None
    return mass if mass is not None and math.isfinite(mass) and mass > 0 else None
