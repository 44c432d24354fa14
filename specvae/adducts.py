"""Adducts: how a precursor ion's m/z relates to the neutral mass of the molecule it came from.

An adduct ``[nM + A - B]z`` is ``n`` molecules, plus the atoms of ``A``, minus those of ``B``, carrying
charge ``z`` (electrons removed for z > 0, added for z < 0). So::

    precursor_mz = (n * M + mass(A) - mass(B) - z * m_e) / |z|
    M            = (|z| * precursor_mz - mass(A) + mass(B) + z * m_e) / n

with monoisotopic element masses (RDKit's periodic table, the masses RDKit's ``ExactMolWt`` uses for
candidates) and the electron mass ``m_e``. For ``[M+H]+`` the shift is m(H) - m_e = 1.007276 Da, the proton.

One exception: ``[M]+`` / ``[M]-`` (no atoms added or removed, no radical mark) is a molecule that is
charged by itself, such as a quaternary ammonium. Its structure is written as the ion, and RDKit already
subtracts the electron mass of a charged structure, so M = precursor m/z * |z|. A radical ion, written
``[M]+*`` (M minus one electron), follows the general rule.

Adduct strings are written in many ways (MassBank alone has ``[M+HCOO]-``, ``[M+HCOOH-H]-``,
``[M+HCO2]-`` and ``[M+H2CO2-H]-`` for one ion). :func:`parse_adduct` reads the notation, computes the
composition, and returns the entry of :data:`COMMON_ADDUCTS` with the same composition and charge, so
equivalent spellings compare equal and print the same canonical name.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from specvae.errors import UnknownAdductError

ELECTRON_MASS_DA = 5.48579909065e-4
"""CODATA 2018 electron mass in daltons."""

# Neutral groups that adduct notations name by abbreviation (formic acid, acetic acid, solvents).
_GROUP_FORMULAS = {
    "FA": "CH2O2",
    "HCOOH": "CH2O2",
    "Hac": "C2H4O2",
    "HAc": "C2H4O2",
    "AcOH": "C2H4O2",
    "ACN": "C2H3N",
    "MeOH": "CH4O",
    "IsoProp": "C3H8O",
    "DMSO": "C2H6OS",
    "TFA": "C2HF3O2",
}

_BRACKETED = re.compile(r"^\[(?P<core>[^\[\]]+)\](?P<charge>\d*[+-]+\d*)?(?P<radical>[*.•])?$")
_UNBRACKETED = re.compile(
    r"^(?P<core>\d*M(?:[+-]\d*[A-Za-z][A-Za-z0-9]*)*)(?P<charge>\d*[+-]+\d*)?(?P<radical>[*.•])?$"
)
_CORE = re.compile(r"^(?P<multiplicity>\d*)M(?P<terms>(?:[+-]\d*[A-Za-z][A-Za-z0-9]*)*)$")
_TERM = re.compile(r"(?P<sign>[+-])(?P<count>\d*)(?P<group>[A-Za-z][A-Za-z0-9]*)")
_ELEMENT = re.compile(r"([A-Z][a-z]?)(\d*)")
_CHARGE = re.compile(r"^(?P<before>\d*)(?P<signs>\++|-+)(?P<after>\d*)$")


@functools.lru_cache(maxsize=1)
def element_masses() -> Mapping[str, float]:
    """Monoisotopic mass of the most common isotope of every element, from RDKit's periodic table."""
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    return {table.GetElementSymbol(number): table.GetMostCommonIsotopeMass(number) for number in range(1, 119)}


@dataclass(frozen=True)
class Adduct:
    """An ion type: ``multiplicity`` molecules, ``composition`` atoms added (+) or removed (-), ``charge``.

    ``composition`` is a sorted tuple of (element, count) with non-zero signed counts. ``intrinsic_charge``
    marks ``[M]+``-style ions whose charge belongs to the molecule itself (see the module docstring).
    """

    name: str
    charge: int
    multiplicity: int = 1
    composition: tuple[tuple[str, int], ...] = ()
    intrinsic_charge: bool = False

    def __post_init__(self) -> None:
        if self.charge == 0:
            raise UnknownAdductError(self.name, "an ion needs a non-zero charge")
        if self.multiplicity < 1:
            raise UnknownAdductError(self.name, "the number of molecules must be at least 1")

    @property
    def mass_shift_da(self) -> float:
        """Mass of the ion minus ``multiplicity`` molecules: atoms added/removed and electrons lost/gained."""
        masses = element_masses()
        atoms = sum(masses[element] * count for element, count in self.composition)
        electrons = 0.0 if self.intrinsic_charge else -self.charge * ELECTRON_MASS_DA
        return atoms + electrons

    @property
    def ion_mode(self) -> str:
        return "positive" if self.charge > 0 else "negative"

    def neutral_mass(self, precursor_mz: float) -> float:
        """Monoisotopic mass of one molecule M given the precursor m/z of this ion."""
        return (abs(self.charge) * precursor_mz - self.mass_shift_da) / self.multiplicity

    def precursor_mz(self, neutral_mass: float) -> float:
        """The m/z of this ion formed from a molecule of monoisotopic mass ``neutral_mass``."""
        return (self.multiplicity * neutral_mass + self.mass_shift_da) / abs(self.charge)

    def _key(self) -> tuple:
        return (self.multiplicity, self.composition, self.charge, self.intrinsic_charge)


def _formula_counts(formula: str, adduct_text: str) -> Counter[str]:
    """Element counts of a formula such as ``CH3COO`` (elements may repeat)."""
    counts: Counter[str] = Counter()
    position = 0
    for match in _ELEMENT.finditer(formula):
        if match.start() != position:
            break
        element, number = match.group(1), match.group(2)
        if element not in element_masses():
            raise UnknownAdductError(adduct_text, f"{element!r} in {formula!r} is not an element")
        counts[element] += int(number) if number else 1
        position = match.end()
    if position != len(formula) or not counts:
        raise UnknownAdductError(adduct_text, f"cannot read {formula!r} as a formula or a known group")
    return counts


def _parse_charge(text: str, adduct_text: str) -> int:
    """``+``, ``2+``, ``+2``, ``1+``, ``++``, ``-``, ``2-``, ``--`` -> signed integer charge."""
    match = _CHARGE.match(text)
    if match is None or (match.group("before") and match.group("after")):
        raise UnknownAdductError(adduct_text, f"cannot read the charge {text!r}")
    signs = match.group("signs")
    digits = match.group("before") or match.group("after")
    if digits and len(signs) > 1:
        raise UnknownAdductError(adduct_text, f"cannot read the charge {text!r}")
    magnitude = int(digits) if digits else len(signs)
    if magnitude == 0:
        raise UnknownAdductError(adduct_text, "the charge is zero")
    return magnitude if signs[0] == "+" else -magnitude


def _canonical_name(multiplicity: int, terms: list[tuple[str, int, str]], charge: int) -> str:
    body = "".join(f"{sign}{count if count > 1 else ''}{group}" for sign, count, group in terms)
    magnitude = abs(charge)
    suffix = f"{magnitude if magnitude > 1 else ''}{'+' if charge > 0 else '-'}"
    return f"[{multiplicity if multiplicity > 1 else ''}M{body}]{suffix}"


def _build(text: str, *, name: str | None = None) -> Adduct:
    """Parse ``text`` into an :class:`Adduct` without looking it up in the table."""
    cleaned = "".join(text.split())
    match = _BRACKETED.match(cleaned) or _UNBRACKETED.match(cleaned)
    if match is None:
        raise UnknownAdductError(text, "expected a notation like [M+H]+, [M-H2O+H]+, [2M+Na]+ or M+H")
    core = _CORE.match(match.group("core"))
    if core is None:
        raise UnknownAdductError(text, "the part in brackets must look like nM+A-B")
    multiplicity = int(core.group("multiplicity")) if core.group("multiplicity") else 1
    composition: Counter[str] = Counter()
    terms = []
    for term in _TERM.finditer(core.group("terms")):
        count = int(term.group("count")) if term.group("count") else 1
        group = term.group("group")
        formula = _GROUP_FORMULAS.get(group, group)
        sign = 1 if term.group("sign") == "+" else -1
        for element, number in _formula_counts(formula, text).items():
            composition[element] += sign * count * number
        terms.append((term.group("sign"), count, group))
    if match.group("charge") is None:
        raise UnknownAdductError(text, "no charge given and not a common adduct")
    charge = _parse_charge(match.group("charge"), text)
    radical = match.group("radical") is not None
    return Adduct(
        name=name or _canonical_name(multiplicity, terms, charge) + ("*" if radical else ""),
        charge=charge,
        multiplicity=multiplicity,
        composition=tuple(sorted((element, count) for element, count in composition.items() if count != 0)),
        intrinsic_charge=not terms and not radical,
    )


# name, then other spellings that are read to the same ion only through the table (no charge given).
_COMMON_ADDUCT_NAMES = (
    # positive
    "[M+H]+",
    "[M+Na]+",
    "[M+NH4]+",
    "[M+K]+",
    "[M+Li]+",
    "[M-H2O+H]+",
    "[M-2H2O+H]+",
    "[M+H-NH3]+",
    "[M+CH3OH+H]+",
    "[M+ACN+H]+",
    "[M+2Na-H]+",
    "[M+2H]2+",
    "[M+H+Na]2+",
    "[2M+H]+",
    "[2M+Na]+",
    "[2M+NH4]+",
    "[M]+",
    "[M]+*",
    # negative
    "[M-H]-",
    "[M+Cl]-",
    "[M+Br]-",
    "[M+FA-H]-",
    "[M+Hac-H]-",
    "[M-H2O-H]-",
    "[M+Na-2H]-",
    "[M+K-2H]-",
    "[M-2H]2-",
    "[2M-H]-",
    "[M]-",
    "[M]-*",
)

COMMON_ADDUCTS: Mapping[str, Adduct] = {name: _build(name, name=name) for name in _COMMON_ADDUCT_NAMES}
"""The adducts specvae knows by name; any other well-formed notation is computed from its formula."""

_BY_COMPOSITION = {adduct._key(): adduct for adduct in COMMON_ADDUCTS.values()}


@functools.lru_cache(maxsize=1024)
def parse_adduct(text: str) -> Adduct:
    """Read an adduct string as written in MassBank, MGF or MSP files.

    Accepts ``[M+H]+``, ``[M+H]1+``, ``M+H`` (charge taken from the common adduct of that composition),
    ``[M+HCOO]-`` (= ``[M+FA-H]-``), ``[M-H2O+H]+``, ``[2M+Na]+``, ``[M+2H]2+`` / ``[M+2H]++``, ``[M]+*``.
    Returns the common adduct of the same composition when there is one (so spellings compare equal).
    Raises :class:`UnknownAdductError` naming the adduct when the text cannot be read.

    >>> parse_adduct("[M+HCOO]-").name
    '[M+FA-H]-'
    """
    if not isinstance(text, str) or not text.strip():
        raise UnknownAdductError(text, "empty adduct")
    cleaned = "".join(text.split())
    if cleaned in COMMON_ADDUCTS:
        return COMMON_ADDUCTS[cleaned]
    match = _BRACKETED.match(cleaned) or _UNBRACKETED.match(cleaned)
    if match is not None and match.group("charge") is None:
        return _lookup_without_charge(text, cleaned)
    adduct = _build(text)
    return _BY_COMPOSITION.get(adduct._key(), adduct)


def _lookup_without_charge(text: str, cleaned: str) -> Adduct:
    """``M+H`` names no charge: take the one common adduct with that composition, if there is exactly one."""
    core = cleaned[1:-1] if cleaned.startswith("[") else cleaned
    atoms = _build(f"[{core}]+")  # the sign is a placeholder: only the composition is compared
    found = [
        adduct
        for adduct in COMMON_ADDUCTS.values()
        if (adduct.multiplicity, adduct.composition) == (atoms.multiplicity, atoms.composition)
        and not adduct.intrinsic_charge
        and not adduct.name.endswith("*")
    ]
    if len(found) != 1:
        reason = "no charge given and not a common adduct" if not found else "no charge given and ambiguous"
        raise UnknownAdductError(text, reason)
    return found[0]


def as_adduct(adduct: str | Adduct) -> Adduct:
    """An :class:`Adduct` from either an adduct or its notation."""
    return adduct if isinstance(adduct, Adduct) else parse_adduct(adduct)


def neutral_mass(precursor_mz: float, adduct: str | Adduct) -> float:
    """Monoisotopic neutral mass (Da) of the molecule behind a precursor ion.

    >>> round(neutral_mass(179.0697, "[M+H]+"), 5)
    178.06242
    """
    return as_adduct(adduct).neutral_mass(precursor_mz)


def precursor_mz(neutral_mass_da: float, adduct: str | Adduct) -> float:
    """The m/z of the ion ``adduct`` formed from a molecule of monoisotopic mass ``neutral_mass_da``."""
    return as_adduct(adduct).precursor_mz(neutral_mass_da)


DEFAULT_ADDUCTS: Mapping[str, str] = {"positive": "[M+H]+", "negative": "[M-H]-"}
"""The adduct assumed for a spectrum that names none: the commonest ion of each ion mode."""


def default_adduct(ion_mode: str) -> Adduct:
    """``[M+H]+`` for positive, ``[M-H]-`` for negative ion mode."""
    mode = (ion_mode or "").strip().lower()
    if mode not in DEFAULT_ADDUCTS:
        raise UnknownAdductError(None, f"no default adduct for ion mode {ion_mode!r} (expected positive/negative)")
    return COMMON_ADDUCTS[DEFAULT_ADDUCTS[mode]]
