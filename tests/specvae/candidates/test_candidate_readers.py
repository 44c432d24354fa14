"""Candidate readers: CSV/TSV, SDF, SMILES lists; bad records reported, others kept (specvae/candidates/)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from specvae.candidates import (
    Candidate,
    candidate_from_fields,
    read_candidate_table,
    read_candidates,
    read_sdf,
    read_smiles_list,
)
from specvae.errors import ErrorReport, InputFileError, InvalidStructureError

ETHANOL_KEY = "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"
CAFFEINE_KEY = "RYYVLZVUVIJVGH-UHFFFAOYSA-N"
CAFFEINE = "Cn1cnc2c1c(=O)n(C)c(=O)n2C"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_trusted_columns_are_not_parsed(tmp_path: Path) -> None:
    # The mass column deliberately disagrees with the SMILES: trusted values are kept as stated.
    path = write(
        tmp_path / "c.csv",
        "Challenge,Identifier,CompoundName,MonoisotopicMass,MolecularFormula,SMILES,InChI,InChIKey\n"
        f"Challenge-001,42,Ethanol,46.5,C2H6O,CCO,,{ETHANOL_KEY}\n",
    )
    (entry,) = read_candidate_table(path)
    candidate = entry.candidate
    assert (entry.record, entry.spectrum_id) == (1, "Challenge-001")
    assert (candidate.identifier, candidate.name, candidate.smiles) == ("42", "Ethanol", "CCO")
    assert (candidate.inchikey, candidate.molecular_formula, candidate.monoisotopic_mass) == (
        ETHANOL_KEY,
        "C2H6O",
        46.5,
    )
    assert candidate.mol is None  # lazily parsed
    assert Chem.MolToSmiles(candidate.molecule()) == "CCO" and candidate.mol is not None


def test_tsv_with_smiles_only_is_parsed_and_completed(tmp_path: Path) -> None:
    path = write(tmp_path / "pool.tsv", f"smiles\tname\n{CAFFEINE}\tcaffeine\nCCO\t\n")
    entries = read_candidates(path)
    caffeine, ethanol = (entry.candidate for entry in entries)
    assert caffeine.inchikey == CAFFEINE_KEY and caffeine.identifier == CAFFEINE_KEY
    assert caffeine.molecular_formula == "C8H10N4O2"
    assert caffeine.monoisotopic_mass == pytest.approx(194.080376, abs=1e-6)
    assert caffeine.name == "caffeine" and ethanol.name is None
    assert all(entry.spectrum_id is None for entry in entries)


def test_column_names_are_case_insensitive(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv", f"SPECTRUM_ID,Id,compound name,INCHIKEY,Smiles\nS1,7,water,,O\nS2,8,eth,{ETHANOL_KEY},CCO\n"
    )
    entries = read_candidate_table(path)
    assert [(e.spectrum_id, e.candidate.identifier, e.candidate.name) for e in entries] == [
        ("S1", "7", "water"),
        ("S2", "8", "eth"),
    ]
    assert entries[0].candidate.inchikey == "XLYOFNOQVPJJNP-UHFFFAOYSA-N"


def test_inchi_only_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", 'InChI\n"InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3"\n')
    (entry,) = read_candidate_table(path)
    assert entry.candidate.inchikey == ETHANOL_KEY and entry.candidate.smiles == "CCO"


def test_bad_rows_are_reported_with_record_number(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        "challenge,Identifier,SMILES\n"
        "C1,1,CCO\n"
        "C1,2,C1CC\n"  # unclosed ring
        "C1,3,N(C)(C)(C)(C)C\n"  # pentavalent nitrogen
        ",4,CCC\n"  # no spectrum id
        "C2,5,\n"  # no structure
        "C2,6,CCN\n",
    )
    report = ErrorReport()
    entries = read_candidate_table(path, report)
    assert [entry.candidate.identifier for entry in entries] == ["1", "6"]
    assert [(error.record, error.title) for error in report] == [(2, "2"), (3, "3"), (4, "4"), (5, "5")]
    assert "syntax error" in report[0].reason
    assert "valence" in report[1].reason.lower()
    assert "spectrum id" in report[2].reason
    assert "no SMILES and no InChI" in report[3].reason


def test_table_without_structure_column_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no SMILES or InChI column"):
        read_candidate_table(write(tmp_path / "c.csv", "name,mass\na,1\n"))
    with pytest.raises(InputFileError, match="empty"):
        read_candidate_table(write(tmp_path / "e.csv", ""))


def test_gzip_table(tmp_path: Path) -> None:
    path = tmp_path / "c.csv.gz"
    path.write_bytes(gzip.compress(b"SMILES\nCCO\nO\n"))
    assert [entry.candidate.smiles for entry in read_candidates(path)] == ["CCO", "O"]


def test_smiles_list(tmp_path: Path) -> None:
    path = write(tmp_path / "pool.smi", f"SMILES Name\n# comment\n{CAFFEINE} caffeine anhydrous\nnot_a_smiles x\nCCO\n")
    report = ErrorReport()
    entries = read_smiles_list(path, report)
    assert [(entry.record, entry.candidate.name) for entry in entries] == [(3, "caffeine anhydrous"), (5, None)]
    assert entries[0].candidate.inchikey == CAFFEINE_KEY
    assert [(error.record, error.title) for error in report] == [(4, "x")]


def sdf_text(records: list[tuple[str, str, dict[str, str]]]) -> str:
    blocks = []
    for smiles, title, properties in records:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", title)
        block = Chem.MolToMolBlock(mol)
        fields = "".join(f">  <{key}>\n{value}\n\n" for key, value in properties.items())
        blocks.append(f"{block}{fields}$$$$\n")
    return "".join(blocks)


def test_sdf_records_and_a_broken_one(tmp_path: Path) -> None:
    good = sdf_text([(CAFFEINE, "caffeine", {"Identifier": "2424", "challenge": "Challenge-9"})])
    bad_valence = sdf_text([("CN(C)C", "pentavalent", {})]).replace("  1  2  1  0", "  1  2  2  0")
    broken = "truncated\n  RDKit\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n$$$$\n"
    last = sdf_text([("CCO", "ethanol", {"InChIKey": ETHANOL_KEY})])
    path = write(tmp_path / "c.sdf", good + bad_valence + broken + last)
    report = ErrorReport()
    entries = read_sdf(path, report)
    assert [(entry.record, entry.candidate.name) for entry in entries] == [(1, "caffeine"), (4, "ethanol")]
    caffeine = entries[0].candidate
    assert (caffeine.identifier, entries[0].spectrum_id, caffeine.inchikey) == ("2424", "Challenge-9", CAFFEINE_KEY)
    assert caffeine.monoisotopic_mass == pytest.approx(Descriptors.ExactMolWt(Chem.MolFromSmiles(CAFFEINE)))
    assert entries[1].candidate.identifier == "ethanol"  # no identifier field: the title
    assert [(error.record, error.title) for error in report] == [(2, "pentavalent"), (3, "truncated")]
    assert "valence" in report[0].reason.lower()


def test_sdf_last_record_without_terminator(tmp_path: Path) -> None:
    text = sdf_text([("CCO", "a", {}), ("CCN", "b", {})])
    path = write(tmp_path / "c.sdf", text[: text.rindex("$$$$")])
    assert [entry.candidate.name for entry in read_sdf(path)] == ["a", "b"]


def test_empty_candidate_file_is_reported(tmp_path: Path) -> None:
    report = ErrorReport()
    assert read_candidates(write(tmp_path / "none.smi", "# nothing\n"), report) == []
    assert len(report) == 1 and report[0].record == "file" and "empty candidate list" in report[0].reason


def test_unknown_or_missing_candidate_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="unknown candidate format"):
        read_candidates(write(tmp_path / "c.xlsx", ""))
    with pytest.raises(InputFileError, match="no such file"):
        read_candidates(tmp_path / "missing.csv")


def test_smiles_falls_back_on_inchi() -> None:
    # A SMILES RDKit cannot kekulise (as in some CASMI 2016 rows) with the InChI of the same structure.
    candidate = candidate_from_fields(
        smiles="c1cccc1", inchi="InChI=1S/C6H6/c1-2-4-6-5-3-1/h1-6H", identifier="benzene", parse=True
    )
    assert candidate.inchikey == "UHOVQNZJYSORNB-UHFFFAOYSA-N" and candidate.molecular_formula == "C6H6"
    lazy = Candidate(
        "x", None, "c1cccc1", "UHOVQNZJYSORNB-UHFFFAOYSA-N", "C6H6", 78.047, "InChI=1S/C6H6/c1-2-4-6-5-3-1/h1-6H"
    )
    assert lazy.molecule().GetNumAtoms() == 6
    broken = Candidate("y", None, "c1cccc1", "UHOVQNZJYSORNB-UHFFFAOYSA-N", "C6H6", 78.047)
    with pytest.raises(InvalidStructureError, match="'y'"):
        broken.molecule()
    assert broken.inchikey14 == "UHOVQNZJYSORNB"


DATA = Path(__file__).parents[2] / "data"


def test_sdf_missing_terminator_loses_no_molecule(tmp_path: Path) -> None:
    """Regression: a lost $$$$ dropped the next molecule in silence and shifted later record numbers."""
    path = DATA / "sdf_missing_terminator.sdf"
    report = ErrorReport()
    entries = read_sdf(path, report)
    assert [(entry.record, entry.candidate.name) for entry in entries] == [
        (1, "caffeine"),
        (2, "ethanol"),
        (3, "benzene"),
        (4, "glycine"),
    ]
    assert [(error.file, error.record, error.title) for error in report] == [(str(path), "line 38", "ethanol")]
    assert "no $$$$ line between record 1" in report[0].reason
    # Each molecule, data fields included, is what the intact file gives (the $$$$ put back).
    lines = path.read_text().splitlines(keepends=True)
    intact = write(tmp_path / "intact.sdf", "".join(lines[:37] + ["$$$$\n"] + lines[37:]))
    intact_report = ErrorReport()
    reference = read_sdf(intact, intact_report)
    assert len(intact_report) == 0
    assert [(e.record, e.spectrum_id, e.candidate) for e in entries] == [
        (e.record, e.spectrum_id, e.candidate) for e in reference
    ]


def test_sdf_second_molecule_with_a_damaged_header_is_reported(tmp_path: Path) -> None:
    text = sdf_text([("CCO", "a", {}), ("CCN", "b", {}), ("CCC", "c", {})])
    first, second, third, _ = text.split("$$$$\n")
    # No $$$$ after "a", and b's counts line is damaged: no header to split at, two M  END lines in one record.
    second_lines = second.splitlines(keepends=True)
    second_lines[3] = "garbage\n"
    path = write(tmp_path / "c.sdf", first + "".join(second_lines) + "$$$$\n" + third + "$$$$\n")
    report = ErrorReport()
    entries = read_sdf(path, report)
    assert [(entry.record, entry.candidate.name) for entry in entries] == [(2, "c")]
    assert [(error.record, error.title) for error in report] == [(1, "a")]
    assert "2 'M  END' lines" in report[0].reason and "line 1" in report[0].reason


def rows_alone(tmp_path: Path, path: Path, line_numbers: list[int]) -> list:
    """The entries of the given lines of a table, each read from a file holding just the header and that row."""
    lines = path.read_text().splitlines(keepends=True)
    entries = []
    for line_number in line_numbers:
        (entry,) = read_candidate_table(write(tmp_path / "alone.csv", lines[0] + lines[line_number - 1]))
        entries.append((line_number - 1, entry.spectrum_id, entry.candidate))
    return entries


def test_csv_stray_quote_costs_one_row(tmp_path: Path) -> None:
    """Regression: a stray quote swallowed the rest of the file (5 of 10 rows lost)."""
    path = DATA / "csv_stray_quote.csv"
    report = ErrorReport()
    entries = read_candidate_table(path, report)
    assert [entry.candidate.identifier for entry in entries] == ["1", "2", "3", "4", "6", "7", "8", "9", "10"]
    assert [(error.file, error.record) for error in report] == [(str(path), 5)]
    assert "line 6: a quoted field is not closed on this line" in report[0].reason
    good_lines = [2, 3, 4, 5, 7, 8, 9, 10, 11]
    assert [(e.record, e.spectrum_id, e.candidate) for e in entries] == rows_alone(tmp_path, path, good_lines)


def test_csv_merged_rows_are_reported(tmp_path: Path) -> None:
    """Regression: a lost line break merged two rows and the second's fields were ignored."""
    path = DATA / "csv_merged_rows.csv"
    report = ErrorReport()
    entries = read_candidate_table(path, report)
    assert [entry.candidate.identifier for entry in entries] == ["1", "2", "3", "4", "5", "8", "9", "10"]
    assert [(error.file, error.record, error.title) for error in report] == [(str(path), 6, "6")]
    assert "line 7: 7 fields but the header has 4" in report[0].reason
    good_lines = [2, 3, 4, 5, 6, 8, 9, 10]
    assert [(e.record, e.spectrum_id, e.candidate) for e in entries] == rows_alone(tmp_path, path, good_lines)


def test_csv_quoted_field_over_two_lines_is_reported_not_misread(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        'SMILES,Identifier,Name\nCCO,1,ethanol\nCCN,2,"ethyl\namine"\nCCC,3,propane\nCC,4,"odd"name\nC,5,,\n',
    )
    report = ErrorReport()
    entries = read_candidate_table(path, report)
    # Line 6 has a trailing empty field (allowed); the others are reported by their lines.
    assert [entry.candidate.identifier for entry in entries] == ["1", "3", "5"]
    assert [error.record for error in report] == [2, 3, 5]
    assert "line 3: a quoted field is not closed" in report[0].reason
    assert "line 4: continues the quoted field left open on line 3" in report[1].reason
    assert "line 6: unreadable CSV row" in report[2].reason


def test_csv_quote_left_open_to_the_end_of_the_file(tmp_path: Path) -> None:
    """The variant that gave one misleading "no SMILES" error for 7 rows: a quote opened in a name column."""
    rows = "".join(f"{'C' * index},{index},name {index}\n" for index in range(3, 10))
    path = write(tmp_path / "c.csv", 'SMILES,Identifier,Name\nCCO,1,ethanol\nCCN,2,"ethyl amine\n' + rows)
    report = ErrorReport()
    entries = read_candidate_table(path, report)
    assert [entry.candidate.identifier for entry in entries] == ["1", *map(str, range(3, 10))]
    assert [error.record for error in report] == [2]


def test_utf16_candidate_files_are_read(tmp_path: Path) -> None:
    """Regression: UTF-16 files with a byte-order mark lost every record."""
    table = tmp_path / "c.csv"
    table.write_text(f"SMILES,Identifier\nCCO,1\n{CAFFEINE},2\n", encoding="utf-16")
    smiles_list = tmp_path / "c.smi"
    smiles_list.write_text(f"CCO ethanol\n{CAFFEINE} caffeine\n", encoding="utf-32")
    sdf = tmp_path / "c.sdf"
    sdf.write_text(sdf_text([("CCO", "ethanol", {}), (CAFFEINE, "caffeine", {})]), encoding="utf-16-le")
    sdf.write_bytes(b"\xff\xfe" + sdf.read_bytes())
    for path in (table, smiles_list, sdf):
        report = ErrorReport()
        entries = read_candidates(path, report)
        assert len(report) == 0, (path, list(report))
        assert [entry.candidate.inchikey for entry in entries] == [ETHANOL_KEY, CAFFEINE_KEY], path


def test_unmarked_utf16_candidate_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes("SMILES,Identifier\nCCO,1\n".encode("utf-16-le"))
    with pytest.raises(InputFileError, match="looks like UTF-16 text without a byte-order mark"):
        read_candidates(path)
