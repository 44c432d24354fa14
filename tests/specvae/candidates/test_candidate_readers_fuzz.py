"""Property-based tests: random and corrupted SDF/CSV/SMILES content never crashes the candidate readers.

A reader may raise only InputFileError (no usable header, unknown format); every other problem is a
record in the error report, and every good record around a bad one is still read.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from rdkit import Chem

from specvae.candidates import read_candidates
from specvae.errors import ErrorReport, InputFileError

FUZZ = settings(max_examples=50, deadline=None)
SMILES_POOL = ["CCO", "c1ccccc1", "CC(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "OCC(O)CO", "C1CCNCC1", "ClCCl"]
KEYS = {smiles: Chem.MolToInchiKey(Chem.MolFromSmiles(smiles)) for smiles in SMILES_POOL}


def read(content: str | bytes, suffix: str) -> tuple[list, ErrorReport | None]:
    """Entries and report; ``None`` as report when the file was refused as a whole (InputFileError)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"fuzz{suffix}"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        report = ErrorReport()
        try:
            entries = read_candidates(path, report)
        except InputFileError:
            return [], None
    return entries, report


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)), st.sampled_from([".csv", ".tsv", ".sdf", ".smi"]))
def test_random_content_never_crashes(content: str | bytes, suffix: str) -> None:
    entries, report = read(content, suffix)
    if report is not None and not entries:
        assert any(error.record == "file" and "empty candidate list" in error.reason for error in report)
    for entry in entries:
        assert len(entry.candidate.inchikey) == 27


@FUZZ
@given(st.lists(st.sampled_from(SMILES_POOL), min_size=1, max_size=8), st.data())
def test_csv_with_garbage_rows(smiles: list[str], data: st.DataObject) -> None:
    garbage = data.draw(st.lists(st.text(max_size=30), max_size=4))
    positions = [data.draw(st.integers(min_value=0, max_value=len(smiles))) for _ in garbage]
    rows = [f"s{index},{value}" for index, value in enumerate(smiles)]
    for position, text in sorted(zip(positions, garbage, strict=True), reverse=True):
        rows.insert(position, "x," + text.replace("\n", " ").replace("\r", " ").replace(",", ";").replace('"', "'"))
    entries, _ = read("id,smiles\n" + "\n".join(rows) + "\n", ".csv")
    good = [
        (entry.candidate.identifier, entry.candidate.inchikey) for entry in entries if entry.candidate.identifier != "x"
    ]
    assert good == [(f"s{index}", KEYS[value]) for index, value in enumerate(smiles)]


@FUZZ
@given(st.lists(st.sampled_from(SMILES_POOL), min_size=1, max_size=6), st.data())
def test_sdf_with_one_damaged_record(smiles: list[str], data: st.DataObject) -> None:
    blocks = []
    for index, value in enumerate(smiles):
        mol = Chem.MolFromSmiles(value)
        mol.SetProp("_Name", f"m{index}")
        blocks.append(Chem.MolToMolBlock(mol) + "$$$$\n")
    damaged = data.draw(st.integers(min_value=0, max_value=len(blocks) - 1))
    lines = blocks[damaged].splitlines(keepends=True)
    cut = data.draw(st.integers(min_value=4, max_value=len(lines) - 2))  # cut inside the atom/bond table
    blocks[damaged] = "".join(lines[:cut]) + data.draw(st.sampled_from(["", "junk\n", "  1  9  1  0\n"])) + "$$$$\n"
    entries, report = read("".join(blocks), ".sdf")
    names = [entry.candidate.name for entry in entries]
    expected = [f"m{index}" for index in range(len(smiles)) if index != damaged]
    # The damaged record is reported (or, rarely, still a valid molecule); no other record is lost.
    assert [name for name in names if name != f"m{damaged}"] == expected
    record_errors = [(error.record, error.title) for error in report if error.record != "file"]
    assert len(entries) + len(record_errors) == len(smiles)
    if f"m{damaged}" not in names:
        assert record_errors == [(damaged + 1, f"m{damaged}")]


@FUZZ
@given(st.lists(st.sampled_from(SMILES_POOL), min_size=2, max_size=6), st.data())
def test_sdf_missing_terminators_lose_no_molecule(smiles: list[str], data: st.DataObject) -> None:
    """Regression: a lost $$$$ dropped the next molecule and shifted the record numbers after it."""
    lost = set(data.draw(st.lists(st.integers(min_value=0, max_value=len(smiles) - 2), max_size=len(smiles) - 1)))
    text = ""
    for index, value in enumerate(smiles):
        mol = Chem.MolFromSmiles(value)
        mol.SetProp("_Name", f"m{index}")
        text += Chem.MolToMolBlock(mol) + f">  <Identifier>\nid{index}\n\n" + ("" if index in lost else "$$$$\n")
    entries, report = read(text, ".sdf")
    assert [(entry.record, entry.candidate.identifier, entry.candidate.inchikey) for entry in entries] == [
        (index + 1, f"id{index}", KEYS[value]) for index, value in enumerate(smiles)
    ]
    assert sorted(error.title for error in report) == sorted(f"m{index + 1}" for index in lost)


@FUZZ
@given(st.lists(st.sampled_from(SMILES_POOL), min_size=2, max_size=10), st.data())
def test_csv_stray_quote_costs_one_row(smiles: list[str], data: st.DataObject) -> None:
    """Regression: a stray quote swallowed every later row."""
    bad = data.draw(st.integers(min_value=0, max_value=len(smiles) - 1))
    column = data.draw(st.integers(min_value=0, max_value=2))
    rows = []
    for index, value in enumerate(smiles):
        fields = [f"s{index}", value, f"name {index}"]
        if index == bad:
            fields[column] = '"' + fields[column]
        rows.append(",".join(fields) + "\n")
    entries, report = read("id,smiles,name\n" + "".join(rows), ".csv")
    assert [(entry.record, entry.candidate.identifier) for entry in entries] == [
        (index + 1, f"s{index}") for index in range(len(smiles)) if index != bad
    ]
    assert [error.record for error in report] == [bad + 1]
