"""The spectrum readers on the real CASMI 2016 and MassBank files (SPECVAE_DATA_DIR)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from shared_helpers import real_data_path

from specvae.adducts import parse_adduct
from specvae.errors import ErrorReport, SpectrumRejectedError
from specvae.spectra import (
    SpectrumBinner,
    clean_spectrum,
    iter_spectrum_records,
    read_clean_spectra,
    spectrum_adduct,
    spectrum_ion_mode,
    spectrum_neutral_mass,
)

pytestmark = pytest.mark.data


def test_casmi2016_challenges_read_and_clean_without_errors() -> None:
    report = ErrorReport()
    positive = read_clean_spectra(real_data_path("casmi2016/challenges_positive.mgf"), report)
    negative = read_clean_spectra(real_data_path("casmi2016/challenges_negative_massbank.mgf"), report)
    assert len(report) == 0, [error.describe() for error in report]
    assert (len(positive), len(negative)) == (127, 81)
    titles = sorted(spectrum.get("title") for spectrum in positive + negative)
    assert titles == [f"Challenge-{number:03d}" for number in range(1, 209)]
    assert {spectrum_ion_mode(spectrum) for spectrum in positive} == {"positive"}
    assert {spectrum_ion_mode(spectrum) for spectrum in negative} == {"negative"}
    assert {spectrum_adduct(spectrum).name for spectrum in positive} == {"[M+H]+"}  # no ADDUCT: ion-mode default
    assert {spectrum_adduct(spectrum).name for spectrum in negative} == {"[M-H]-"}
    for spectrum in positive + negative:
        intensities = spectrum.peaks.intensities
        assert intensities.max() == 1.0 and intensities.min() > 0
        assert spectrum.peaks.mz.max() <= spectrum.get("precursor_mz") + 0.5
    first = next(s for s in positive if s.get("title") == "Challenge-082")
    assert first.get("precursor_mz") == 167.104 and len(first.peaks) == 18
    binned = SpectrumBinner().bin(positive + negative)
    assert binned.shape == (208, 10000)
    np.testing.assert_allclose(binned.max(axis=1).toarray().ravel(), 1.0)


def test_casmi2016_precursors_match_the_solutions() -> None:
    import csv

    with open(real_data_path("casmi2016/solutions.csv"), newline="", encoding="utf-8") as stream:
        solutions = {row["ChallengeName"]: float(row["PRECURSOR_MZ"]) for row in csv.DictReader(stream)}
    spectra = read_clean_spectra(real_data_path("casmi2016/challenges_positive.mgf"))
    spectra += read_clean_spectra(real_data_path("casmi2016/challenges_negative_massbank.mgf"))
    assert len(solutions) == 208
    for spectrum in spectra:
        assert spectrum.get("precursor_mz") == pytest.approx(solutions[spectrum.get("title")], abs=0.01)


def test_massbank_sample_reads_with_the_metadata_specvae_needs() -> None:
    path = real_data_path("massbank/massbank_positive.mgf.gz")
    records = list(itertools.islice(iter_spectrum_records(path), 3000))
    assert len(records) == 3000 and all(record.ok for record in records)
    assert [record.record for record in records[:3]] == [1, 2, 3]
    assert records[0].title == "MSBNK-AAFC-AC000001"
    first = records[0].spectrum
    assert first.get("spectrum_id") == "MSBNK-AAFC-AC000001"
    assert (first.get("precursor_mz"), first.get("adduct"), first.get("ionmode")) == (179.0697, "[M+H]+", "positive")
    assert first.get("inchikey") == "KWILGNNWGSNMPA-UHFFFAOYSA-N"
    assert first.get("smiles") == "CC1CC2=C(C(=CC=C2)O)C(=O)O1"
    assert first.get("compound_name") == "Mellein" and first.get("license") == "CC BY-SA"
    assert first.get("instrument_type") == "LC-ESI-ITFT" and first.get("collision_energy") == "10(NCE)"

    rejected, errors_ppm = [], []
    for record in records:
        try:
            spectrum = clean_spectrum(record.spectrum)
        except SpectrumRejectedError as rejection:
            rejected.append((record.record, str(rejection)))
            continue
        if spectrum.get("adduct"):
            parse_adduct(spectrum.get("adduct"))
            exact_mass = float(spectrum.get("parent_mass"))  # EXACTMASS after matchms' key harmonisation
            errors_ppm.append((spectrum_neutral_mass(spectrum) - exact_mass) / exact_mass * 1e6)
    # The 67 PEPMASS=NA records of the export lie in this sample; they are read, then rejected by cleaning.
    assert len(rejected) == 67 and all("no precursor m/z" in reason for _, reason in rejected)
    assert rejected[0][0] == 922
    # Neutral mass from precursor m/z and adduct agrees with MassBank's EXACTMASS within 5 ppm.
    assert len(errors_ppm) > 2500
    assert np.max(np.abs(errors_ppm)) < 5.0 and np.median(np.abs(errors_ppm)) < 0.5
