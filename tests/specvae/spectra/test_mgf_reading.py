"""MGF reading block by block: values, bad blocks reported, the rest kept (specvae/spectra/mgf.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from matchms.importing import load_from_mgf

from specvae.errors import ErrorReport, InputFileError
from specvae.spectra import iter_spectrum_records, read_clean_spectra, read_spectra
from specvae.spectra.mgf import iter_mgf

GOOD_BLOCK_1 = """BEGIN IONS
TITLE=first
SPECTRUMID=SP-1
PEPMASS=179.0697
CHARGE=1+
IONMODE=POSITIVE
ADDUCT=[M+H]+
NAME=Mellein
SMILES=CC1CC2=C(C(=CC=C2)O)C(=O)O1
INCHIKEY=KWILGNNWGSNMPA-UHFFFAOYSA-N
133.065 21905.3
151.075 9239.9
179.07 72563.9
END IONS
"""

GOOD_BLOCK_3 = """BEGIN IONS
TITLE=third
PEPMASS=221.0608 1234.5
CHARGE=1-
IONMODE=NEGATIVE
177.071 4.99487e+06
221.061 1.15663e+06
END IONS
"""

BAD_PEAK_BLOCK = """BEGIN IONS
TITLE=second
PEPMASS=300.1
100.0 5.0
100.5 five
END IONS
"""


def write(tmp_path: Path, text: str, name: str = "spectra.mgf") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_values_of_a_good_block(tmp_path: Path) -> None:
    records = list(iter_mgf(write(tmp_path, GOOD_BLOCK_1 + "\n" + GOOD_BLOCK_3)))
    assert [record.record for record in records] == [1, 2]
    assert [record.title for record in records] == ["first", "third"]
    first = records[0].spectrum
    np.testing.assert_array_equal(first.peaks.mz, [133.065, 151.075, 179.07])
    np.testing.assert_array_equal(first.peaks.intensities, [21905.3, 9239.9, 72563.9])
    assert first.get("precursor_mz") == 179.0697
    assert first.get("charge") == 1
    assert first.get("ionmode") == "positive"
    assert first.get("adduct") == "[M+H]+"
    assert first.get("spectrum_id") == "SP-1"
    assert first.get("compound_name") == "Mellein"
    assert first.get("inchikey") == "KWILGNNWGSNMPA-UHFFFAOYSA-N"
    third = records[1].spectrum
    assert third.get("precursor_mz") == 221.0608
    assert third.get("precursor_intensity") == 1234.5
    assert third.get("charge") == -1


def test_same_result_as_matchms(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_BLOCK_1 + GOOD_BLOCK_3)
    ours = read_spectra(path)
    theirs = list(load_from_mgf(str(path)))
    assert len(ours) == len(theirs) == 2
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(mine.peaks.mz, reference.peaks.mz)
        np.testing.assert_array_equal(mine.peaks.intensities, reference.peaks.intensities)
        for key in ("title", "precursor_mz", "charge", "ionmode", "adduct", "compound_name", "spectrum_id"):
            assert mine.get(key) == reference.get(key), key


def test_malformed_block_is_reported_and_the_others_survive(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_BLOCK_1 + BAD_PEAK_BLOCK + GOOD_BLOCK_3)
    report = ErrorReport()
    spectra = read_spectra(path, report)
    assert [spectrum.get("title") for spectrum in spectra] == ["first", "third"]
    assert len(report) == 1
    error = report[0]
    assert (error.file, error.record, error.title) == (str(path), 2, "second")
    assert "line 19" in error.reason and "five" in error.reason


@pytest.mark.parametrize(
    ("text", "record", "fragment"),
    [
        ("BEGIN IONS\nTITLE=x\nPEPMASS=100\n50 1\n" + GOOD_BLOCK_3, 1, "before END IONS"),
        (GOOD_BLOCK_3 + "BEGIN IONS\nTITLE=x\nPEPMASS=100\n50 1\n", 2, "no END IONS"),
        (GOOD_BLOCK_3 + "END IONS\n", "line 9", "END IONS without BEGIN IONS"),
        ("garbage here\n" + GOOD_BLOCK_3, "line 1", "outside"),
        ("BEGIN IONS\nTITLE=x\n50 1 2 3\nEND IONS\n" + GOOD_BLOCK_3, 1, "expected 'm/z intensity'"),
        ("BEGIN IONS\nTITLE=x\nnan 5\nEND IONS\n" + GOOD_BLOCK_3, 1, "not a finite non-negative"),
        ("BEGIN IONS\nTITLE=x\n-5 5\nEND IONS\n" + GOOD_BLOCK_3, 1, "not a finite non-negative"),
        ("BEGIN IONS\nTITLE=x\n=5\nEND IONS\n" + GOOD_BLOCK_3, 1, "parameter without a name"),
    ],
)
def test_structural_problems(tmp_path: Path, text: str, record: int | str, fragment: str) -> None:
    records = list(iter_mgf(write(tmp_path, text)))
    errors = [item for item in records if not item.ok]
    good = [item for item in records if item.ok]
    assert len(errors) == 1
    assert errors[0].record == record
    assert fragment in errors[0].error
    assert [item.title for item in good] == ["third"]
    np.testing.assert_array_equal(good[0].spectrum.peaks.mz, [177.071, 221.061])


def test_missing_precursor_reads_then_cleaning_rejects(tmp_path: Path) -> None:
    path = write(tmp_path, "BEGIN IONS\nTITLE=na\nPEPMASS=NA\n50 1\nEND IONS\n" + GOOD_BLOCK_3)
    records = list(iter_mgf(path))
    assert records[0].ok and records[0].spectrum.get("precursor_mz") is None
    report = ErrorReport()
    cleaned = read_clean_spectra(path, report)
    assert [spectrum.get("title") for spectrum in cleaned] == ["third"]
    assert len(report) == 1 and report[0].record == 1 and report[0].title == "na"
    assert "no precursor m/z" in report[0].reason


def test_peaks_are_sorted_and_third_column_ignored(tmp_path: Path) -> None:
    text = "BEGIN IONS\nTITLE=u\nPEPMASS=300\n200 2 1+\n100 1\n150.5 3\nEND IONS\n"
    spectrum = read_spectra(write(tmp_path, text))[0]
    np.testing.assert_array_equal(spectrum.peaks.mz, [100.0, 150.5, 200.0])
    np.testing.assert_array_equal(spectrum.peaks.intensities, [1.0, 3.0, 2.0])


def test_parameters_outside_a_block_are_reported_and_never_applied(tmp_path: Path) -> None:
    """Regression: a KEY=VALUE line before BEGIN IONS used to become a setting of every block."""
    text = "IONMODE=NEGATIVE\n# a comment\n" + GOOD_BLOCK_1.replace("IONMODE=POSITIVE\n", "") + GOOD_BLOCK_3
    report = ErrorReport()
    spectra = read_spectra(write(tmp_path, text), report)
    assert [spectrum.get("ionmode") for spectrum in spectra] == [None, "negative"]
    assert [(error.record, error.title) for error in report] == [("line 1", None)]
    assert "IONMODE=NEGATIVE" in report[0].reason and "not applied" in report[0].reason


DATA = Path(__file__).parents[2] / "data"


def good_blocks_alone(tmp_path: Path, path: Path, titles: list[str]) -> list:
    """The blocks titled ``titles`` of ``path``, each read from a file of its own."""
    text = path.read_text(encoding="utf-8-sig")
    spectra = []
    for title in titles:
        start = text.index(f"TITLE={title}\n")
        start = text.rindex("BEGIN IONS", 0, start)
        end = text.index("END IONS", start) + len("END IONS\n")
        (spectrum,) = read_spectra(write(tmp_path, text[start:end], f"alone-{title}.mgf"))
        spectra.append(spectrum)
    return spectra


def assert_same_spectra(ours: list, alone: list) -> None:
    assert len(ours) == len(alone)
    for mine, reference in zip(ours, alone, strict=True):
        np.testing.assert_array_equal(mine.peaks.mz, reference.peaks.mz)
        np.testing.assert_array_equal(mine.peaks.intensities, reference.peaks.intensities)
        assert mine.metadata == reference.metadata


def test_outside_parameter_file(tmp_path: Path) -> None:
    path = DATA / "mgf_outside_parameter.mgf"
    report = ErrorReport()
    spectra = read_spectra(path, report)
    assert [spectrum.get("title") for spectrum in spectra] == ["good-1", "good-3"]
    assert all(spectrum.get("adduct") is None for spectrum in spectra)
    assert [(error.file, error.record) for error in report] == [(str(path), "line 1")]
    assert "ADDUCT=[M+Na]+" in report[0].reason
    assert_same_spectra(spectra, good_blocks_alone(tmp_path, path, ["good-1", "good-3"]))


def test_missing_begin_ions_gives_its_metadata_to_no_other_record(tmp_path: Path) -> None:
    """Regression: the orphan block's ADDUCT=[M+Na]+ was applied to the intact record after it."""
    path = DATA / "mgf_missing_begin.mgf"
    report = ErrorReport()
    spectra = read_spectra(path, report)
    assert [spectrum.get("title") for spectrum in spectra] == ["good-1", "good-3"]
    assert [spectrum.get("adduct") for spectrum in spectra] == [None, None]
    # One error for the whole orphan block (not one per line), named by its first line, with its title.
    assert [(error.file, error.record, error.title) for error in report] == [(str(path), "line 11", "broken-2")]
    assert "END IONS without BEGIN IONS" in report[0].reason and "lines 11-17" in report[0].reason
    assert_same_spectra(spectra, good_blocks_alone(tmp_path, path, ["good-1", "good-3"]))
    # Record numbers count BEGIN IONS blocks: good-3 is the file's second block.
    assert [record.record for record in iter_mgf(path) if record.ok] == [1, 2]


def test_utf8_byte_order_mark_is_stripped(tmp_path: Path) -> None:
    """Regression: a BOM hid the first BEGIN IONS, and that block's ADDUCT leaked into the next."""
    path = DATA / "mgf_bom.mgf"
    assert path.read_bytes().startswith(b"\xef\xbb\xbfBEGIN IONS")
    report = ErrorReport()
    spectra = read_spectra(path, report)
    assert len(report) == 0, list(report)
    assert [(spectrum.get("title"), spectrum.get("adduct")) for spectrum in spectra] == [
        ("bom-1", "[M+Na]+"),
        ("good-3", None),
    ]
    assert_same_spectra(spectra, good_blocks_alone(tmp_path, path, ["bom-1", "good-3"]))


def test_byte_order_mark_inside_the_file_is_ignored(tmp_path: Path) -> None:
    # Two files with a BOM each, concatenated: the second mark sits at the start of a line.
    text = "\ufeff" + GOOD_BLOCK_1 + "\ufeff" + GOOD_BLOCK_3
    report = ErrorReport()
    spectra = read_spectra(write(tmp_path, text), report)
    assert [spectrum.get("title") for spectrum in spectra] == ["first", "third"] and len(report) == 0


@pytest.mark.parametrize("name", ["utf16.mgf", "utf16.mgf.gz"])
def test_utf16_with_byte_order_mark_is_read(tmp_path: Path, name: str) -> None:
    """Regression: UTF-16 lost every record (hundreds of "text outside BEGIN IONS" errors)."""
    path = DATA / "utf16.mgf"
    if name.endswith(".gz"):
        path = tmp_path / name
        path.write_bytes(gzip.compress((DATA / "utf16.mgf").read_bytes()))
    report = ErrorReport()
    spectra = read_spectra(path, report)
    assert len(report) == 0, list(report)
    utf8 = write(tmp_path, (DATA / "utf16.mgf").read_text(encoding="utf-16"), "utf8.mgf")
    assert [spectrum.get("title") for spectrum in spectra] == ["good-1", "good-3"]
    assert_same_spectra(spectra, read_spectra(utf8))


def test_utf16_without_byte_order_mark_is_refused_once(tmp_path: Path) -> None:
    path = tmp_path / "nobom.mgf"
    path.write_bytes((GOOD_BLOCK_1 + GOOD_BLOCK_3).encode("utf-16-le"))
    with pytest.raises(InputFileError, match=r"nobom\.mgf: looks like UTF-16 text without a byte-order mark"):
        list(iter_spectrum_records(path))


def test_gzip_reads_like_plain_text(tmp_path: Path) -> None:
    text = GOOD_BLOCK_1 + GOOD_BLOCK_3
    plain = read_spectra(write(tmp_path, text))
    compressed = tmp_path / "spectra.mgf.gz"
    compressed.write_bytes(gzip.compress(text.encode()))
    zipped = read_spectra(compressed)
    assert [s.get("title") for s in zipped] == ["first", "third"]
    for a, b in zip(plain, zipped, strict=True):
        np.testing.assert_array_equal(a.peaks.mz, b.peaks.mz)


def test_truncated_gzip_keeps_the_records_before_the_break(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    blocks = [
        f"BEGIN IONS\nTITLE=r{index}\nPEPMASS=500\n"
        + "".join(f"{mz:.4f} {i:.1f}\n" for mz, i in rng.random((50, 2)) * 400)
        + "END IONS\n"
        for index in range(400)
    ]
    text = GOOD_BLOCK_1 + "".join(blocks)
    data = gzip.compress(text.encode())
    broken = tmp_path / "broken.mgf.gz"
    broken.write_bytes(data[: len(data) // 2])
    report = ErrorReport()
    spectra = read_spectra(broken, report)
    assert 1 <= len(spectra) < 401 and spectra[0].get("title") == "first"
    assert [spectrum.get("title") for spectrum in spectra[1:]] == [f"r{index}" for index in range(len(spectra) - 1)]
    assert len(report) == 1 and "corrupt" in report[0].reason


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        list(iter_spectrum_records(tmp_path / "missing.mgf"))
    with pytest.raises(InputFileError, match="unknown spectrum format"):
        list(iter_spectrum_records(write(tmp_path, "x", "spectra.xyz")))


@pytest.mark.parametrize(("name", "text"), [("empty.mgf", ""), ("blank.msp", "\n\n"), ("nothing.mgf.gz", None)])
def test_a_file_without_records_is_reported(tmp_path: Path, name: str, text: str | None) -> None:
    """An empty file (or one in another format that yields nothing) is an error, not a run that annotates nothing."""
    path = tmp_path / name
    if text is None:
        path.write_bytes(gzip.compress(b""))
    else:
        path.write_text(text)
    errors = ErrorReport()
    assert read_spectra(path, errors) == []
    assert [(error.file, error.record) for error in errors] == [(str(path), "file")]
    assert "no spectrum records found" in errors[0].reason
