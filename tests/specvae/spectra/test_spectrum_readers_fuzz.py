"""Property-based tests: random and corrupted MGF/MSP content never crashes the readers.

The only exception a reader may raise is InputFileError (file missing or unknown format); everything else
ends up as records, each with either a spectrum or an error reason.
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from specvae.errors import ErrorReport, InputFileError
from specvae.spectra import iter_clean_records, read_spectra

FUZZ = settings(max_examples=60, deadline=None)

peak = st.tuples(
    st.floats(min_value=1.0, max_value=2000.0, allow_nan=False),
    st.floats(min_value=0.0, max_value=1e7, allow_nan=False),
)
valid_block = st.builds(
    lambda peaks, precursor: (precursor, sorted(peaks)),
    st.lists(peak, min_size=1, max_size=8),
    st.floats(min_value=50.0, max_value=2000.0, allow_nan=False),
)
garbage_line = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40).filter(
    lambda line: "\n" not in line and "\r" not in line
)


def mgf_block(title: str, precursor: float, peaks: list[tuple[float, float]]) -> str:
    lines = "".join(f"{mz!r} {intensity!r}\n" for mz, intensity in peaks)
    return f"BEGIN IONS\nTITLE={title}\nPEPMASS={precursor!r}\nIONMODE=POSITIVE\n{lines}END IONS\n"


def read_text(text: str | bytes, suffix: str) -> tuple[list, ErrorReport]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"fuzz{suffix}"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        report = ErrorReport()
        try:
            spectra = read_spectra(path, report)
            cleaned = list(iter_clean_records(path))
        except InputFileError:  # refused as a whole (e.g. looks like UTF-16 without a byte-order mark)
            return [], report
    for record in cleaned:
        assert (record.spectrum is None) != (record.error is None)
    return spectra, report


@FUZZ
@given(st.text(max_size=400))
def test_random_text_never_crashes_mgf(text: str) -> None:
    read_text(text, ".mgf")


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_mgf_or_msp(data: bytes) -> None:
    read_text(data, ".mgf")
    read_text(data, ".msp")
    read_text(gzip.compress(data), ".mgf.gz")


@FUZZ
@given(st.lists(valid_block, min_size=1, max_size=6), st.data())
def test_one_corrupted_block_costs_one_record(blocks: list, data: st.DataObject) -> None:
    bad_position = data.draw(st.integers(min_value=0, max_value=len(blocks)))
    bad_line = data.draw(garbage_line.filter(lambda line: "=" not in line))
    texts = [mgf_block(f"s{index}", precursor, peaks) for index, (precursor, peaks) in enumerate(blocks)]
    # Starts with a letter and has no "=": neither a parameter, a comment nor a peak.
    texts.insert(bad_position, f"BEGIN IONS\nTITLE=bad\nPEPMASS=100\npeak? {bad_line}\nEND IONS\n")
    spectra, report = read_text("".join(texts), ".mgf")
    assert [spectrum.get("title") for spectrum in spectra] == [f"s{index}" for index in range(len(blocks))]
    assert [(error.record, error.title) for error in report] == [(bad_position + 1, "bad")]
    for spectrum, (precursor, peaks) in zip(spectra, blocks, strict=True):
        assert spectrum.get("precursor_mz") == precursor
        np.testing.assert_array_equal(spectrum.peaks.mz, [mz for mz, _ in peaks])


@FUZZ
@given(st.lists(valid_block, min_size=1, max_size=6), st.data())
def test_truncated_or_spliced_files_keep_whole_blocks(blocks: list, data: st.DataObject) -> None:
    text = "".join(mgf_block(f"s{index}", precursor, peaks) for index, (precursor, peaks) in enumerate(blocks))
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    insert = data.draw(garbage_line)
    corrupted = text[:cut] + insert + "\n" + text[cut:]
    spectra, _ = read_text(corrupted, ".mgf")
    # One inserted line damages at most one block: every other block is read with its own title and peaks.
    intact = 0
    for spectrum in spectra:
        title = spectrum.get("title")
        if title in {f"s{index}" for index in range(len(blocks))}:
            precursor, peaks = blocks[int(title[1:])]
            if np.array_equal(spectrum.peaks.mz, [mz for mz, _ in peaks]) and spectrum.get("precursor_mz") == precursor:
                intact += 1
    assert intact >= len(blocks) - 1


@FUZZ
@given(st.lists(valid_block, min_size=1, max_size=5), st.integers(min_value=0, max_value=4))
def test_msp_with_a_wrong_peak_count(blocks: list, bad_index: int) -> None:
    bad_index %= len(blocks)
    records = []
    for index, (precursor, peaks) in enumerate(blocks):
        declared = len(peaks) + (1 if index == bad_index else 0)
        lines = "".join(f"{mz!r} {intensity!r}\n" for mz, intensity in peaks)
        records.append(f"Name: m{index}\nPrecursorMZ: {precursor!r}\nNum Peaks: {declared}\n{lines}\n")
    spectra, report = read_text("".join(records), ".msp")
    assert [spectrum.get("compound_name") for spectrum in spectra] == [
        f"m{index}" for index in range(len(blocks)) if index != bad_index
    ]
    assert [error.record for error in report] == [bad_index + 1]
    assert "Num Peaks" in report[0].reason


@FUZZ
@given(st.lists(valid_block, min_size=2, max_size=6), st.data())
def test_blocks_without_begin_ions_give_nothing_to_other_blocks(blocks: list, data: st.DataObject) -> None:
    """Regression: metadata of a block that lost its BEGIN IONS must not reach any intact block."""
    orphans = set(data.draw(st.lists(st.integers(min_value=0, max_value=len(blocks) - 1), max_size=len(blocks) - 1)))
    texts = []
    for index, (precursor, peaks) in enumerate(blocks):
        text = mgf_block(f"s{index}", precursor, peaks)
        if index in orphans:
            text = text.replace("BEGIN IONS\n", "").replace("IONMODE=POSITIVE", "IONMODE=NEGATIVE\nADDUCT=[M+Na]+")
        texts.append(text)
    spectra, report = read_text("\n".join(texts), ".mgf")
    intact = [index for index in range(len(blocks)) if index not in orphans]
    assert [spectrum.get("title") for spectrum in spectra] == [f"s{index}" for index in intact]
    assert all(spectrum.get("adduct") is None and spectrum.get("ionmode") == "positive" for spectrum in spectra)
    assert sorted(error.title for error in report) == sorted(f"s{index}" for index in orphans)
