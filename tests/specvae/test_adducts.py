"""Adduct masses against hand-computed values, spellings, and errors (specvae/adducts.py)."""

from __future__ import annotations

import gzip
import re

import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors
from shared_helpers import real_data_path

from specvae.adducts import (
    COMMON_ADDUCTS,
    ELECTRON_MASS_DA,
    Adduct,
    default_adduct,
    neutral_mass,
    parse_adduct,
    precursor_mz,
)
from specvae.errors import UnknownAdductError

# Monoisotopic masses written out by hand (IUPAC/AME values), independent of RDKit's table.
H = 1.00782503207
C = 12.0
N = 14.0030740048
O = 15.99491461956  # noqa: E741
NA = 22.9897692809
CL = 34.96885268
PROTON = 1.007276466621  # CODATA
E = 0.000548579909


@pytest.mark.parametrize(
    ("name", "expected_shift"),
    [
        ("[M+H]+", H - E),
        ("[M+Na]+", NA - E),
        ("[M+NH4]+", N + 4 * H - E),
        ("[M-H2O+H]+", -(H + O) - E),
        ("[M-H]-", -H + E),
        ("[M+Cl]-", CL + E),
        ("[M+FA-H]-", C + H + 2 * O + E),
        ("[M+Hac-H]-", 2 * C + 3 * H + 2 * O + E),
        ("[M+2H]2+", 2 * H - 2 * E),
        ("[M-2H]2-", -2 * H + 2 * E),
        ("[M]+*", -E),
        ("[M]+", 0.0),
    ],
)
def test_mass_shift_equals_atoms_and_electrons(name: str, expected_shift: float) -> None:
    assert parse_adduct(name).mass_shift_da == pytest.approx(expected_shift, abs=2e-7)


def test_proton_adduct_matches_the_proton_mass() -> None:
    # m(H) - m(e) differs from the proton mass only by the hydrogen binding energy (1.5e-8 Da).
    assert parse_adduct("[M+H]+").mass_shift_da == pytest.approx(PROTON, abs=3e-8)
    assert ELECTRON_MASS_DA == pytest.approx(E, rel=1e-9)


def test_neutral_mass_by_hand() -> None:
    assert neutral_mass(179.0697, "[M+H]+") == pytest.approx(179.0697 - (H - E), abs=1e-7)
    assert neutral_mass(221.0608, "[M-H]-") == pytest.approx(221.0608 + H - E, abs=1e-7)
    # Doubly charged: M = 2 * mz - 2 * (m(H) - m(e)).
    assert neutral_mass(300.0, "[M+2H]2+") == pytest.approx(600.0 - 2 * (H - E), abs=1e-7)
    # Dimer: M = (mz - (m(H) - m(e))) / 2.
    assert neutral_mass(401.0, "[2M+H]+") == pytest.approx((401.0 - (H - E)) / 2, abs=1e-7)
    # Intrinsically charged: the structure is the ion, M = mz; a radical cation lost one electron.
    assert neutral_mass(146.1176, "[M]+") == pytest.approx(146.1176, abs=1e-9)
    assert neutral_mass(146.1176, "[M]+*") == pytest.approx(146.1176 + E, abs=1e-9)


def test_caffeine_precursor_from_rdkit_mass() -> None:
    caffeine = Chem.MolFromSmiles("Cn1cnc2c1c(=O)n(C)c(=O)n2C")
    mass = Descriptors.ExactMolWt(caffeine)
    assert mass == pytest.approx(8 * C + 10 * H + 4 * N + 2 * O, abs=1e-5)
    assert precursor_mz(mass, "[M+H]+") == pytest.approx(195.087652, abs=2e-6)
    assert precursor_mz(mass, "[M+Na]+") == pytest.approx(8 * C + 10 * H + 4 * N + 2 * O + NA - E, abs=1e-5)


def test_quaternary_ammonium_mass_is_the_rdkit_mass_of_the_cation() -> None:
    # RDKit subtracts the electron of a charged structure, so for [M]+ the candidate mass equals the m/z.
    cation = Chem.MolFromSmiles("C[N+](C)(C)C")
    assert Descriptors.ExactMolWt(cation) == pytest.approx(4 * C + 12 * H + N - E, abs=1e-6)
    assert neutral_mass(4 * C + 12 * H + N - E, "[M]+") == pytest.approx(Descriptors.ExactMolWt(cation), abs=1e-6)


@pytest.mark.parametrize("adduct", sorted(COMMON_ADDUCTS))
def test_precursor_and_neutral_mass_are_inverse(adduct: str) -> None:
    for mass in (100.0, 456.789):
        assert neutral_mass(precursor_mz(mass, adduct), adduct) == pytest.approx(mass, abs=1e-9)


@pytest.mark.parametrize(
    ("spellings", "canonical"),
    [
        (["[M+H]+", "M+H", "[M+H]1+", " [M + H]+ ", "[M+H]"], "[M+H]+"),
        (["[M+HCOO]-", "[M+HCOOH-H]-", "[M+HCO2]-", "[M+H2CO2-H]-", "[M+FA-H]-", "M+FA-H"], "[M+FA-H]-"),
        (["[M+CH3COO]-", "[M+CH3COOH-H]-", "[M+Hac-H]-"], "[M+Hac-H]-"),
        (["[M-H2O+H]+", "[M+H-H2O]+"], "[M-H2O+H]+"),
        (["[M-2H]2-", "[M-2H]--"], "[M-2H]2-"),
        (["[M+2H]2+", "[M+2H]++", "M+2H"], "[M+2H]2+"),
        (["[M-H]-", "M-H", "[M-H]1-"], "[M-H]-"),
    ],
)
def test_spellings_read_to_one_adduct(spellings: list[str], canonical: str) -> None:
    for spelling in spellings:
        adduct = parse_adduct(spelling)
        assert adduct.name == canonical, spelling
        assert adduct == COMMON_ADDUCTS[canonical]


def test_an_uncommon_adduct_is_computed_from_its_formula() -> None:
    adduct = parse_adduct("[M-H-CO2-2HF]-")
    assert adduct.charge == -1
    assert dict(adduct.composition) == {"H": -3, "C": -1, "O": -2, "F": -2}
    fluorine = 18.99840322
    assert adduct.mass_shift_da == pytest.approx(-3 * H - C - 2 * O - 2 * fluorine + E, abs=1e-6)


def test_adduct_object_fields() -> None:
    adduct = parse_adduct("[2M+Na]+")
    assert (adduct.multiplicity, adduct.charge, adduct.composition, adduct.ion_mode) == (2, 1, (("Na", 1),), "positive")
    assert parse_adduct("[M+Cl]-").ion_mode == "negative"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[M+Xx]+", "'Xx'"),
        ("foo", "notation"),
        ("[M+H]0+", "zero"),
        ("[M+H]+-", "charge"),
        ("M", "no charge"),
        ("", "empty"),
        ("[M+H]2++", "charge"),
    ],
)
def test_unknown_adducts_raise_naming_the_adduct(text: str, fragment: str) -> None:
    with pytest.raises(UnknownAdductError) as raised:
        parse_adduct(text)
    assert fragment in str(raised.value)
    assert raised.value.adduct == text
    if text:
        assert repr(text) in str(raised.value)


def test_neutral_mass_accepts_adduct_objects_and_rejects_unknown_strings() -> None:
    adduct = Adduct(name="[M+H]+", charge=1, composition=(("H", 1),))
    assert neutral_mass(200.0, adduct) == pytest.approx(200.0 - (H - E), abs=1e-7)
    with pytest.raises(UnknownAdductError, match=re.escape("[M+Q]+")):
        neutral_mass(200.0, "[M+Q]+")


def test_default_adducts_by_ion_mode() -> None:
    assert default_adduct("POSITIVE").name == "[M+H]+"
    assert default_adduct(" negative").name == "[M-H]-"
    with pytest.raises(UnknownAdductError, match="ion mode"):
        default_adduct("n/a")


@pytest.mark.data
def test_every_massbank_adduct_parses() -> None:
    seen: set[str] = set()
    for name in ("massbank/massbank_positive.mgf.gz", "massbank/massbank_negative.mgf.gz"):
        with gzip.open(real_data_path(name), "rt", encoding="utf-8") as stream:
            seen.update(line[7:].strip() for line in stream if line.startswith("ADDUCT="))
    assert len(seen) > 40
    for text in seen:
        adduct = parse_adduct(text)
        assert adduct.charge != 0, text
