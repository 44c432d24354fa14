"""A candidate table read as a set of per-spectrum lists that are built when first asked for."""

from __future__ import annotations

import csv
import random

import pytest

from specvae.candidates import CandidateSet, read_candidate_table
from specvae.candidates.reading import read_candidate_file_set
from specvae.candidates.table import RowSplitter, split_row
from specvae.errors import ErrorReport

KEY_A = "XRAMJHXWXCMGJM-UHFFFAOYSA-N"
KEY_B = "KPFPCGFKQNSWSQ-UHFFFAOYSA-N"
SMILES_A = "COC(=O)CCc1ccc(O)cc1"
SMILES_B = "CCOC(=O)c1ccc(O)cc1C"


def _write(path, rows, header=("spectrum_id", "identifier", "smiles", "inchikey")):
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_list_is_built_when_its_spectrum_asks_and_its_bad_rows_reported_then(tmp_path):
    table = _write(
        tmp_path / "c.csv",
        [
            ("s1", "a", SMILES_A, KEY_A),
            ("s1", "a-again", SMILES_A, KEY_A),  # a repeat: dropped when the list is built
            ("s2", "bad", "C1CC(", ""),  # no key: parsed (and refused) only when s2's list is built
            ("s2", "b", SMILES_B, KEY_B),
            ("", "orphan", SMILES_B, KEY_B),  # a layout problem: reported while reading
        ],
    )
    errors = ErrorReport()
    candidate_set = read_candidate_file_set(table, errors)
    assert [(error.record, error.title) for error in errors] == [(5, "orphan")]
    assert candidate_set.spectrum_ids == ["s1", "s2"] and candidate_set.take_problems() == []

    assert [c.identifier for c in candidate_set.candidates_for_spectrum_id("s1")] == ["a"]
    assert candidate_set.take_problems() == [] and candidate_set.duplicates_dropped == 1
    assert [c.identifier for c in candidate_set.candidates_for_spectrum_id("s2")] == ["b"]
    problems = candidate_set.take_problems()
    assert [(problem.record, problem.title) for problem in problems] == [(3, "bad")]
    assert "invalid SMILES" in problems[0].reason
    assert candidate_set.take_problems() == []  # each problem is handed over once


def test_rows_stating_their_key_are_not_parsed_and_formula_and_mass_come_on_first_use(tmp_path):
    table = _write(tmp_path / "c.csv", [("s1", "a", SMILES_A, KEY_A)])
    (candidate,) = read_candidate_file_set(table, ErrorReport()).candidates_for_spectrum_id("s1")
    assert candidate.mol is None
    assert candidate.molecular_formula == "C10H12O3"
    assert candidate.monoisotopic_mass == pytest.approx(180.078644, abs=1e-6)
    assert candidate.mol is None  # worked out without keeping a molecule


def test_a_key_given_with_two_structures_anywhere_in_the_file_is_checked_in_every_list(tmp_path):
    """The decoy states a's key with b's structure in another spectrum's list: the file-wide check still finds it."""
    table = _write(tmp_path / "c.csv", [("s1", "a", SMILES_A, KEY_A), ("s2", "decoy", SMILES_B, KEY_A)])
    candidate_set = read_candidate_file_set(table, ErrorReport())
    assert candidate_set.candidates_for_spectrum_id("s2") == ()
    (problem,) = candidate_set.take_problems()
    assert problem.title is None and problem.record == 2 and KEY_A in problem.reason
    assert [c.identifier for c in candidate_set.candidates_for_spectrum_id("s1")] == ["a"]


def test_the_lists_equal_those_of_the_eager_reader(tmp_path):
    rows = [("s1", "a", SMILES_A, KEY_A), ("s1", "b", SMILES_B, KEY_B), ("s2", "b2", SMILES_B, KEY_B)]
    table = _write(tmp_path / "c.csv", rows)
    lazy = read_candidate_file_set(table, ErrorReport())
    eager = CandidateSet.per_spectrum(read_candidate_table(table, ErrorReport()))
    for spectrum_id in ("s1", "s2"):
        assert lazy.candidates_for_spectrum_id(spectrum_id) == eager.candidates_for_spectrum_id(spectrum_id)


@pytest.mark.parametrize(
    "line",
    ["a,b,c\n", 'x,"a,b",c\n', 'x,a"b,"c\n', 'x,"a""b",c\n', '"CCO\n', 'p,"q"r",s\n', 't,"u",v\n', "\n"],
)
def test_the_row_splitter_splits_as_a_fresh_csv_reader_does(line):
    def outcome(split):
        try:
            return split(line)
        except csv.Error:
            return "error"

    splitter = RowSplitter(",")
    assert outcome(splitter.split) == outcome(lambda text: split_row(text, ","))
    assert splitter.split('after,"a damaged",line\n') == ["after", "a damaged", "line"]


def test_reading_a_per_spectrum_table_shows_a_bar_when_asked(tmp_path, capsys):
    from specvae.candidates.table_set import read_table_candidate_set

    table = _write(tmp_path / "c.csv", [("s1", "a", SMILES_A, KEY_A), ("s2", "b", SMILES_B, KEY_B)])
    read_table_candidate_set(table, ErrorReport(), progress=True)
    assert "reading candidates" in capsys.readouterr().err
    read_table_candidate_set(table, ErrorReport(), progress=False)
    assert capsys.readouterr().err == ""


def _damaged_table_lines() -> list[str]:
    """A per-spectrum table whose damage each reading rule must report, spread over many lines."""
    good = [f's{i % 3},id{i},{SMILES_A},"{KEY_A}"\n' for i in range(40)]
    lines = ["spectrum_id,identifier,smiles,inchikey\n", *good[:5]]
    lines += ['s1,stray,"CCO,KEY\n', 's1,closes,CCO",KEY\n']  # a quote left open, then closed on the next line
    lines += good[5:12] + ["\n", "   \n"]  # blank lines
    lines += ['s2,bad,"CC"O,KEY\n']  # a malformed quoted field
    lines += good[12:20] + [f"s0,merged,{SMILES_A},{KEY_A},s1,other,{SMILES_B},{KEY_B}\n"]
    lines += [f",orphan,{SMILES_B},{KEY_B}\n", "s2,nul,C\x00C,KEY\n"]  # csv refuses a NUL, a plain split not
    lines += good[20:31] + ['s1,open-at-end,"CCO\n'] + good[31:]
    return lines


@pytest.mark.parametrize("lines_per_block", [1, 2, 3, 5, 7, 1024])
@pytest.mark.parametrize("damaged_gzip", [False, True])
def test_tables_read_in_blocks_give_the_rows_and_reports_of_line_by_line_reading(
    tmp_path, monkeypatch, lines_per_block, damaged_gzip
):
    """Blocks of lines are split together, and a block with a problem line by line: the rows and the reports (their
    order included) are those of reading every line on its own, however the damage falls across blocks."""
    import gzip

    from specvae.candidates import table as table_module
    from specvae.candidates.table import TableRows
    from specvae.spectra.textio import open_text

    lines = _damaged_table_lines()
    if damaged_gzip:  # enough text that the stream breaks after many rows were read (random ids resist compression)
        rng = random.Random(0)
        lines += [f"s{i % 3},{rng.getrandbits(64):x},{SMILES_B},{KEY_B}\n" for i in range(5000)]
    text = "".join(lines).encode()
    path = tmp_path / ("c.csv.gz" if damaged_gzip else "c.csv")
    path.write_bytes(gzip.compress(text)[: len(gzip.compress(text)) // 2] if damaged_gzip else text)

    def read(block_size):
        monkeypatch.setattr(table_module, "_LINES_PER_BLOCK", block_size)
        monkeypatch.setattr(RowSplitter, "split_block", RowSplitter.split_block if block_size > 1 else _no_block)
        errors = ErrorReport()
        with open_text(path) as stream:
            rows = list(TableRows(stream, str(path), errors))
        return rows, list(errors)

    def _no_block(self, lines):
        return None  # every line split on its own: the reading rules as stated

    rows, reports = read(lines_per_block)
    expected_rows, expected_reports = read(1)
    assert rows == expected_rows
    assert reports == expected_reports
    assert len(expected_reports) == 5 + damaged_gzip
    if damaged_gzip:
        assert expected_reports[-1].record == "file" and len(expected_rows) > 1000
