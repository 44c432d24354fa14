"""The error report: collecting, printing, TSV round trip, exit code (specvae/errors.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from specvae.errors import ErrorReport, InputFileError, RecordError, UnknownAdductError


def test_report_collects_prints_and_sets_the_exit_code() -> None:
    report = ErrorReport()
    assert report.exit_code == 0 and len(report) == 0
    report.add("a.mgf", 3, "no precursor m/z", title="Challenge-001")
    report.append(RecordError("b.csv", "line 7", "text outside BEGIN IONS/END IONS"))
    assert report.exit_code == 1 and len(report) == 2
    stream = io.StringIO()
    report.print(stream)
    assert stream.getvalue().splitlines() == [
        "error: a.mgf, record 3 ('Challenge-001'): no precursor m/z",
        "error: b.csv, line 7: text outside BEGIN IONS/END IONS",
    ]


def test_print_goes_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    ErrorReport([RecordError("a.sdf", 2, "RDKit cannot read the molfile block", "x")]).print()
    captured = capsys.readouterr()
    assert captured.out == "" and "a.sdf, record 2 ('x')" in captured.err


def test_tsv_round_trip_keeps_one_row_per_error(tmp_path: Path) -> None:
    report = ErrorReport(
        [
            RecordError("a.mgf", 12, "line 40: peak is not two numbers:\t'1 x'\nmore", "t\u00e9tle"),
            RecordError("b.csv", "file", 'empty candidate list "quoted"'),
        ]
    )
    path = tmp_path / "errors.tsv"
    report.write_tsv(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "file\trecord\ttitle\treason" and len(lines) == 3
    back = list(ErrorReport.read_tsv(path))
    assert back[0] == RecordError("a.mgf", 12, "line 40: peak is not two numbers: '1 x' more", "t\u00e9tle")
    assert back[1] == RecordError("b.csv", "file", 'empty candidate list "quoted"', None)


def test_read_tsv_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "other.tsv"
    path.write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="not an error report"):
        ErrorReport.read_tsv(path)


def test_unknown_adduct_message() -> None:
    assert str(UnknownAdductError("[M+Q]+", "bad")) == "unknown adduct '[M+Q]+': bad"
    assert str(UnknownAdductError(None, "the spectrum names no adduct")) == "no adduct: the spectrum names no adduct"
