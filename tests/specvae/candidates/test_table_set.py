"""A candidate table read as a set of per-spectrum lists that are built when first asked for."""

from __future__ import annotations

import csv

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
