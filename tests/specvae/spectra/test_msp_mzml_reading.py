"""MSP and mzML reading (specvae/spectra/msp.py, specvae/spectra/mzml.py)."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np

from specvae.errors import ErrorReport
from specvae.spectra import read_spectra, spectrum_ion_mode

MSP = """Name: Caffeine
PrecursorMZ: 195.0877
Precursor_type: [M+H]+
Ion_mode: P
InChIKey: RYYVLZVUVIJVGH-UHFFFAOYSA-N
Comments: "SMILES=Cn1cnc2c1c(=O)n(C)c(=O)n2C" "collision energy=35"
Num Peaks: 3
110.0713 80
138.0662 999 "b-ion"
195.0877 400

Name: Broken
PrecursorMZ: 200
Num Peaks: 2
100 1
150 two

Name: Compact
PrecursorMZ: 300.5
Num Peaks: 4
50 1; 60 2; 70:3
80 4
"""


def test_msp_values_errors_and_layouts(tmp_path: Path) -> None:
    path = tmp_path / "library.msp"
    path.write_text(MSP, encoding="utf-8")
    report = ErrorReport()
    spectra = read_spectra(path, report)
    assert [spectrum.get("compound_name") for spectrum in spectra] == ["Caffeine", "Compact"]
    caffeine, compact = spectra
    np.testing.assert_array_equal(caffeine.peaks.mz, [110.0713, 138.0662, 195.0877])
    np.testing.assert_array_equal(caffeine.peaks.intensities, [80.0, 999.0, 400.0])
    assert caffeine.get("precursor_mz") == 195.0877
    assert caffeine.get("adduct") == "[M+H]+"
    assert caffeine.get("smiles") == "Cn1cnc2c1c(=O)n(C)c(=O)n2C"
    assert caffeine.get("inchikey") == "RYYVLZVUVIJVGH-UHFFFAOYSA-N"
    np.testing.assert_array_equal(compact.peaks.mz, [50.0, 60.0, 70.0, 80.0])
    np.testing.assert_array_equal(compact.peaks.intensities, [1.0, 2.0, 3.0, 4.0])
    assert len(report) == 1
    assert (report[0].record, report[0].title) == (2, "Broken")
    assert "two" in report[0].reason


def test_msp_gzip(tmp_path: Path) -> None:
    path = tmp_path / "library.msp.gz"
    path.write_bytes(gzip.compress(MSP.encode()))
    assert [spectrum.get("compound_name") for spectrum in read_spectra(path)] == ["Caffeine", "Compact"]


def test_msp_records_without_blank_lines_split_at_name(tmp_path: Path) -> None:
    path = tmp_path / "dense.msp"
    path.write_text("Name: a\nPrecursorMZ: 100\nNum Peaks: 1\n50 1\nName: b\nPrecursorMZ: 200\nNum Peaks: 1\n60 2\n")
    spectra = read_spectra(path)
    assert [(s.get("compound_name"), s.get("precursor_mz")) for s in spectra] == [("a", 100.0), ("b", 200.0)]


def write_mzml(path: Path, second_peaks: tuple[np.ndarray, np.ndarray]) -> None:
    """Three spectra (MS1, MS2 positive, MS2 negative) written with psims, a dependency of matchms."""
    from psims.mzml.writer import MzMLWriter

    with warnings.catch_warnings(), MzMLWriter(open(path, "wb"), close=True) as writer:
        warnings.simplefilter("ignore")  # psims' notes on optional mzML sections this minimal file leaves out
        writer.controlled_vocabularies()
        writer.file_description(["MSn spectrum", "centroid spectrum"])
        with writer.run(id="run1"):
            with writer.spectrum_list(count=3):
                writer.write_spectrum(
                    np.array([100.0, 200.0]),
                    np.array([1.0, 2.0]),
                    id="scan=1",
                    params=[{"ms level": 1}, "MS1 spectrum", "centroid spectrum"],
                )
                writer.write_spectrum(
                    second_peaks[0],
                    second_peaks[1],
                    id="scan=2",
                    params=[{"ms level": 2}, "MSn spectrum", "centroid spectrum"],
                    precursor_information={
                        "mz": 180.5,
                        "intensity": 1000.0,
                        "charge": 1,
                        "scan_id": "scan=1",
                        "activation": ["beam-type collision-induced dissociation", {"collision energy": 35.0}],
                    },
                )
                writer.write_spectrum(
                    np.array([60.0, 70.0]),
                    np.array([1.0, 2.0]),
                    id="scan=3",
                    params=[{"ms level": 2}, "MSn spectrum", "centroid spectrum"],
                    precursor_information={
                        "mz": 250.25,
                        "intensity": 10.0,
                        "charge": -1,
                        "scan_id": "scan=1",
                        "activation": ["beam-type collision-induced dissociation", {"collision energy": 35.0}],
                    },
                )


def test_mzml_reads_ms2_spectra(tmp_path: Path) -> None:
    path = tmp_path / "run.mzML"
    write_mzml(path, (np.array([50.0, 120.5, 150.0]), np.array([10.0, 30.0, 20.0])))
    spectra = read_spectra(path)
    assert [spectrum.get("spectrum_id") for spectrum in spectra] == ["scan=2", "scan=3"]
    assert [spectrum.get("precursor_mz") for spectrum in spectra] == [180.5, 250.25]
    assert [spectrum_ion_mode(spectrum) for spectrum in spectra] == ["positive", "negative"]
    np.testing.assert_array_equal(spectra[0].peaks.mz, [50.0, 120.5, 150.0])
    np.testing.assert_array_equal(spectra[0].peaks.intensities, [10.0, 30.0, 20.0])


def test_mzml_bad_spectrum_is_reported_and_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "run.mzML"
    write_mzml(path, (np.array([50.0, np.nan]), np.array([1.0, 2.0])))
    report = ErrorReport()
    spectra = read_spectra(path, report)
    assert [spectrum.get("spectrum_id") for spectrum in spectra] == ["scan=3"]
    assert len(report) == 1 and report[0].record == 2 and report[0].title == "scan=2"
    assert "finite" in report[0].reason


DATA = Path(__file__).parents[2] / "data"
MZML_MS2_IDS = [f"scan={k}" for k in range(2, 10)]


def test_mzml_gzip_is_read() -> None:
    """Regression: spectra.mzML.gz failed with "unreadable mzML after record 0"."""
    report = ErrorReport()
    spectra = read_spectra(DATA / "spectra.mzML.gz", report)
    assert len(report) == 0, list(report)
    assert [spectrum.get("spectrum_id") for spectrum in spectra] == MZML_MS2_IDS
    for k, spectrum in enumerate(spectra, start=2):
        np.testing.assert_array_equal(spectrum.peaks.mz, [50.0 + k, 100.25 + k, 150.5 + k])
        np.testing.assert_array_equal(spectrum.peaks.intensities, np.array([1.0, 2.0, 3.0]) * k)
        assert spectrum.get("precursor_mz") == 200.0 + k
        assert spectrum_ion_mode(spectrum) == ("positive" if k % 2 else "negative")


def test_mzml_bad_base64_costs_one_spectrum(tmp_path: Path) -> None:
    """Regression: one damaged <binary> lost every later spectrum, reported once."""
    path = DATA / "mzml_bad_base64.mzML"
    report = ErrorReport()
    spectra = read_spectra(path, report)
    assert [(error.file, error.record, error.title) for error in report] == [(str(path), 4, "scan=4")]
    assert "unreadable m/z array" in report[0].reason and "'scan=4'" in report[0].reason
    assert [spectrum.get("spectrum_id") for spectrum in spectra] == [i for i in MZML_MS2_IDS if i != "scan=4"]
    # The good spectra are exactly those of the intact file (the same run, gzip-compressed, read alone).
    intact = {spectrum.get("spectrum_id"): spectrum for spectrum in read_spectra(DATA / "spectra.mzML.gz")}
    for spectrum in spectra:
        reference = intact[spectrum.get("spectrum_id")]
        np.testing.assert_array_equal(spectrum.peaks.mz, reference.peaks.mz)
        np.testing.assert_array_equal(spectrum.peaks.intensities, reference.peaks.intensities)
        assert spectrum.metadata == reference.metadata


def test_mzml_gzip_under_any_name(tmp_path: Path) -> None:
    path = tmp_path / "run.mzML"  # gzip content without the .gz suffix
    path.write_bytes((DATA / "spectra.mzML.gz").read_bytes())
    assert [spectrum.get("spectrum_id") for spectrum in read_spectra(path)] == MZML_MS2_IDS


def test_utf16_big_endian_msp_with_byte_order_mark() -> None:
    report = ErrorReport()
    spectra = read_spectra(DATA / "utf16be.msp", report)
    assert len(report) == 0, list(report)
    assert [(s.get("compound_name"), s.get("precursor_mz")) for s in spectra] == [("a", 100.0), ("b", 200.0)]
