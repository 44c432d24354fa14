"""Silent losses the fuzz campaign found (benchmarks/fuzz_campaign.py), each with its file in tests/data/.

- mzML: one syntax error lost every later spectrum and the earlier ones lxml had not yet handed over (a small file
  lost all); a spectrum whose MS level was damaged, or that a moved closing tag nested in another, was skipped as
  "another MS level" without a word; pyteomics' offset index skipped a spectrum whose opening tag was damaged.
- MGF/MSP: two records merged by a damaged END IONS line (MSP: a lost blank line and ``Name:`` line) were read as
  one, the second's precursor silently replacing the first's.
- Unmarked UTF-16 with a few characters beyond Latin-1 was read as UTF-8 garbage instead of refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from specvae.errors import InputFileError
from specvae.spectra import iter_clean_records
from specvae.spectra.mzml import _controlled_vocabulary

DATA = Path(__file__).parents[2] / "data"


def records(path: Path) -> list[tuple[object, str | None, str | None]]:
    return [(record.record, record.title, record.error) for record in iter_clean_records(path)]


def test_a_broken_mzml_spectrum_costs_itself_only() -> None:
    path = DATA / "mzml_broken_tag.mzML"
    read = records(path)
    assert [(number, title) for number, title, error in read if error is None] == [(1, "scan=1"), (3, "scan=3")]
    ((number, title, error),) = [item for item in read if item[2] is not None]
    assert (number, title) == (2, "scan=2") and "unreadable mzML spectrum" in error
    precursors = [record.spectrum.get("precursor_mz") for record in iter_clean_records(path) if record.spectrum]
    assert precursors == [856.2069, 303.27]


def test_nested_spectra_are_reported_not_skipped_as_another_ms_level() -> None:
    read = records(DATA / "mzml_moved_closing_tag.mzML")
    assert [(number, title) for number, title, error in read if error is None] == [(1, "scan=1")]
    reasons = sorted(error for _, _, error in read if error is not None)
    assert len(reasons) == 2 and "is not one positive integer" in reasons[0] and "states no MS level" in reasons[1]


def test_a_broken_utf16_mzml_is_read_on_per_spectrum(tmp_path) -> None:
    text = (DATA / "mzml_broken_tag.mzML").read_text(encoding="utf-8")
    path = tmp_path / "utf16.mzML"
    path.write_bytes(text.encode("utf-16"))  # with a byte-order mark
    assert [(number, error is None) for number, _, error in records(path)] == [(1, True), (2, False), (3, True)]


def test_the_psi_ms_vocabulary_is_loaded_once() -> None:
    assert _controlled_vocabulary() is _controlled_vocabulary()


@pytest.mark.parametrize(
    ("name", "key"), [("mgf_damaged_end_ions.mgf", "PEPMASS given again"), ("msp_merged_records.msp", "'precursormz'")]
)
def test_two_merged_records_are_reported_not_read_as_one(name: str, key: str) -> None:
    read = records(DATA / name)
    assert [(number, title) for number, title, error in read if error is None] == [(2, "third")]
    ((number, title, error),) = [item for item in read if item[2] is not None]
    assert (number, title) == (1, "first") and key in error and "merged" in error


def test_unmarked_utf16_with_a_few_wide_characters_is_refused(tmp_path) -> None:
    text = "BEGIN IONS\nTITLE=s0\nPEPMASS=100.5\n50.0 10.0\nEND IONS\n" * 2 + "ȍ˘ɪ\n"
    path = tmp_path / "unmarked.mgf"
    path.write_bytes(text.encode("utf-16-le"))
    with pytest.raises(InputFileError, match="UTF-16 text without a byte-order mark"):
        list(iter_clean_records(path))


def test_a_spectrum_with_a_damaged_opening_tag_is_a_record_of_its_own() -> None:
    """pyteomics' offset index never saw it (lost in silence), and reading on after the break must not shift the
    record numbers of the spectra after it."""
    read = records(DATA / "mzml_damaged_opening_tag.mzML")
    assert [(number, title, error is None) for number, title, error in read] == [
        (1, "scan=1", True),
        (2, "scan=2", False),
        (3, "scan=3", True),
    ]
    assert "opening tag is damaged" in read[1][2]
