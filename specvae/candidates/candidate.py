"""A candidate structure, and the RDKit calls that turn SMILES / InChI / molfile records into one.

Parsing 258,808 SMILES with RDKit takes minutes, and a ranking needs a molecule only to compute a
fingerprint (which a cache usually already holds). So a :class:`Candidate` built from a file that states
InChIKey, formula and monoisotopic mass keeps only the SMILES text and parses it on first use
(:meth:`Candidate.molecule`); one built from a bare SMILES is parsed at once, because its InChIKey, formula
and mass must be computed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from rdkit import Chem
from rdkit.Chem import Descriptors, rdMolDescriptors
from rdkit.rdBase import BlockLogs

from specvae.errors import InvalidStructureError

INCHIKEY_PATTERN = re.compile(r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$")


def inchikey_first_block(inchikey: str) -> str:
    """The 14-character skeleton block of an InChIKey (stereo- and charge-insensitive)."""
    return inchikey.strip().upper().split("-")[0]


@dataclass
class Candidate:
    """One candidate structure.

    ``inchikey`` identifies the structure (duplicates are collapsed on it), ``monoisotopic_mass`` (Da,
    RDKit's ``ExactMolWt``: the mass of the structure as written, charged structures minus their electrons)
    is what the pool mode filters on. ``mol`` is the parsed molecule when one exists; use
    :meth:`molecule`, which parses the SMILES (or InChI) on first use.
    """

    identifier: str
    name: str | None
    smiles: str | None
    inchikey: str
    molecular_formula: str
    monoisotopic_mass: float
    inchi: str | None = None
    mol: Chem.Mol | None = field(default=None, repr=False, compare=False)

    @property
    def inchikey14(self) -> str:
        """The InChIKey's first block (the skeleton: stereo-isomers share it)."""
        return self.inchikey.split("-", 1)[0]

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
) -> Candidate:
    """A candidate from the fields of a table row or a SMILES line.

    When ``inchikey``, ``molecular_formula`` and ``monoisotopic_mass`` are all given and well-formed and
    ``parse`` is false, they are trusted and the structure is parsed only later, on demand. Otherwise the
    structure is parsed now (:func:`parse_structure`) and InChIKey, formula and mass are computed.
    Raises :class:`InvalidStructureError` for an unparseable structure or a row without one.
    """
    smiles = (smiles or "").strip() or None
    inchi = (inchi or "").strip() or None
    if smiles is None and inchi is None:
        raise InvalidStructureError("no SMILES and no InChI")
    key = (inchikey or "").strip().upper()
    mass = _as_mass(monoisotopic_mass)
    formula = (molecular_formula or "").strip()
    if not parse and INCHIKEY_PATTERN.match(key) and formula and mass is not None:
        return Candidate(
            identifier=identifier or key,
            name=name,
            smiles=smiles,
            inchikey=key,
            molecular_formula=formula,
            monoisotopic_mass=mass,
            inchi=inchi,
        )
    mol = parse_structure(smiles, inchi)
    candidate = candidate_from_mol(mol, identifier=identifier, name=name, smiles=smiles, inchikey=key or None)
    candidate.inchi = inchi
    return candidate


def _as_mass(value: str | float | None) -> float | None:
    try:
        mass = float(value) if value is not None and str(value).strip() else None
    except ValueError:
        return None
    return mass if mass is not None and math.isfinite(mass) and mass > 0 else None
