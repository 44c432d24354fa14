"""Per-spectrum lists and the mass-filtered pool (specvae/candidates/candidate_set.py)."""

from __future__ import annotations

import numpy as np
import pytest
from matchms import Spectrum

from specvae.adducts import ELECTRON_MASS_DA
from specvae.candidates import Candidate, CandidateEntry, CandidateSet, mass_error_ppm
from specvae.errors import EmptyCandidateListError, UnknownAdductError

PROTON = 1.00782503207 - ELECTRON_MASS_DA


def candidate(key: str, mass: float) -> Candidate:
    return Candidate(identifier=key, name=None, smiles="C", inchikey=key, molecular_formula="C", monoisotopic_mass=mass)


def key(letter: str) -> str:
    return f"{letter * 14}-{'A' * 10}-N"


def spectrum(**metadata: object) -> Spectrum:
    return Spectrum(mz=np.array([50.0]), intensities=np.array([1.0]), metadata=metadata)


def test_pool_window_by_ppm_with_exact_boundaries() -> None:
    neutral = 300.0
    at_limit_low = neutral / (1 + 10e-6)  # mass error exactly +10 ppm
    at_limit_high = neutral / (1 - 10e-6)  # exactly -10 ppm
    pool = CandidateSet.pool(
        [
            candidate(key("A"), at_limit_low * (1 - 1e-9)),  # just outside
            candidate(key("B"), at_limit_low),
            candidate(key("C"), neutral),
            candidate(key("D"), at_limit_high),
            candidate(key("E"), at_limit_high * (1 + 1e-9)),  # just outside
            candidate(key("F"), 150.0),
        ]
    )
    matches = pool.candidates_for(neutral, tolerance_ppm=10.0)
    assert [match.candidate.inchikey[0] for match in matches] == ["B", "C", "D"]
    assert [match.mass_error_ppm for match in matches] == pytest.approx([10.0, 0.0, -10.0], abs=1e-6)
    assert pool.candidates_for(neutral, tolerance_ppm=0.0)[0].candidate.inchikey[0] == "C"


def test_mass_error_formula() -> None:
    assert mass_error_ppm(100.001, 100.0) == pytest.approx(10.0)
    assert mass_error_ppm(99.999, 100.0) == pytest.approx(-10.0)


def test_pool_for_spectrum_uses_adduct_and_ion_mode() -> None:
    m = 194.080376  # caffeine
    pool = CandidateSet.pool([candidate(key("C"), m), candidate(key("N"), m + 22.989218 - 1.007276 + 0.0)])
    positive = spectrum(precursor_mz=m + PROTON, ionmode="positive")
    (match,) = pool.for_spectrum(positive)
    assert match.candidate.inchikey[0] == "C" and match.mass_error_ppm == pytest.approx(0.0, abs=1e-6)
    # The spectrum's own adduct wins over the ion-mode default; an explicit adduct wins over both.
    sodium = spectrum(precursor_mz=m + 22.98976928 - ELECTRON_MASS_DA, ionmode="positive", adduct="[M+Na]+")
    assert pool.for_spectrum(sodium)[0].candidate.inchikey[0] == "C"
    assert pool.for_spectrum(positive, adduct="[M+H]+")[0].candidate.inchikey[0] == "C"
    negative = spectrum(precursor_mz=m - PROTON, ionmode="negative")
    assert pool.for_spectrum(negative)[0].candidate.inchikey[0] == "C"
    with pytest.raises(EmptyCandidateListError, match=r"10 ppm .*\[M\+H\]\+"):
        pool.for_spectrum(spectrum(precursor_mz=500.0, ionmode="positive"))
    with pytest.raises(UnknownAdductError, match="M\\+Q"):
        pool.for_spectrum(spectrum(precursor_mz=500.0, adduct="[M+Q]+"))


def test_duplicates_by_inchikey_are_collapsed_first_kept() -> None:
    first, second = candidate(key("A"), 100.0), candidate(key("A"), 100.0)
    first.identifier, second.identifier = "first", "second"
    pool = CandidateSet.pool([first, second, candidate(key("B"), 100.0)])
    assert len(pool) == 2 and pool.duplicates_dropped == 1
    assert [match.candidate.identifier for match in pool.candidates_for(100.0)] == ["first", key("B")]


def test_per_spectrum_lists_match_title_spectrum_id_or_feature_id() -> None:
    entries = [
        CandidateEntry(1, "Challenge-001", candidate(key("A"), 100.0)),
        CandidateEntry(2, "Challenge-001", candidate(key("A"), 100.0)),  # duplicate within the list
        CandidateEntry(3, "MSBNK-1", candidate(key("B"), 200.0)),
        CandidateEntry(4, "17", candidate(key("C"), 300.0)),
        CandidateEntry(5, "Challenge-001", candidate(key("D"), 100.001)),
    ]
    lists = CandidateSet.from_entries(entries)
    assert lists.mode == "per_spectrum" and lists.spectrum_ids == ["Challenge-001", "MSBNK-1", "17"]
    assert len(lists) == 4 and lists.duplicates_dropped == 1
    matches = lists.for_spectrum(spectrum(title="Challenge-001", precursor_mz=100.0 + PROTON, ionmode="positive"))
    assert [match.candidate.inchikey[0] for match in matches] == ["A", "D"]  # not mass-filtered
    assert [match.mass_error_ppm for match in matches] == pytest.approx([0.0, mass_error_ppm(100.0, 100.001)], abs=1e-6)
    by_id = lists.for_spectrum(spectrum(title="other", spectrum_id="MSBNK-1"))
    assert [match.candidate.inchikey[0] for match in by_id] == ["B"] and by_id[0].mass_error_ppm is None
    assert lists.for_spectrum(spectrum(feature_id="17"))[0].candidate.inchikey[0] == "C"
    with pytest.raises(EmptyCandidateListError, match="Challenge-404"):
        lists.for_spectrum(spectrum(title="Challenge-404"))
    with pytest.raises(EmptyCandidateListError):
        lists.candidates_for_spectrum_id("nope")


def test_mode_detection_and_misuse() -> None:
    named = CandidateEntry(1, "s", candidate(key("A"), 1.0))
    unnamed = CandidateEntry(2, None, candidate(key("B"), 2.0))
    assert CandidateSet.from_entries([unnamed]).mode == "pool"
    with pytest.raises(ValueError, match="all or none"):
        CandidateSet.from_entries([named, unnamed])
    with pytest.raises(ValueError, match="per-spectrum"):
        CandidateSet.from_entries([named]).candidates_for(1.0)
    with pytest.raises(ValueError, match="pool"):
        CandidateSet.pool([unnamed]).candidates_for_spectrum_id("s")
