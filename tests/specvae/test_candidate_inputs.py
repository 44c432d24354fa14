"""Candidates and spectra as chemists get them: a PubChem CSV download (``CID,Title,SMILES,InChIKey``, or with
``IsomericSMILES``), a PubChem SDF (``PUBCHEM_COMPOUND_CID``), a pandas DataFrame, RDKit molecules with names, a
single matchms Spectrum; formula and element filters; no bad record dropped silently."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from matchms import Spectrum
from rdkit import Chem

from specvae.annotator import Annotator, SkippedRecordsWarning
from specvae.candidates import candidate_filter, describe_table_columns, read_candidates
from specvae.errors import ErrorReport, InputFileError
from specvae_cli.specvae_cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# Isomers of C10H12O3 (180.0786 Da), one other formula of nearly the same mass is absent on purpose; CIDs as
# PubChem lists them would be; the InChIKeys are computed, so the file is self-consistent.
ISOMERS = [
    (91768, "Methyl 3-(4-hydroxyphenyl)propanoate", "COC(=O)CCc1ccc(O)cc1"),
    (12345678, "Ethyl 4-hydroxy-3-methylbenzoate", "CCOC(=O)c1ccc(O)cc1C"),
    (4620, "3-(4-Methoxyphenyl)propanoic acid", "COc1ccc(CCC(=O)O)cc1"),
]
CHLORINATED = (7000, "4-chloro-phenylpropanoate-like", "ClCC(=O)OCc1ccccc1")  # C9H9ClO2: other mass, filtered
SPECTRUM_MGF = """BEGIN IONS
TITLE=feature-1
PEPMASS=181.0859
CHARGE=1+
IONMODE=POSITIVE
77.039 20
105.033 100
163.075 45
END IONS
"""


def _inchikey(smiles: str) -> str:
    return Chem.MolToInchiKey(Chem.MolFromSmiles(smiles))


@pytest.fixture
def spectra(tmp_path):
    path = tmp_path / "spectra.mgf"
    path.write_text(SPECTRUM_MGF)
    return path


def _pubchem_csv(path, smiles_column: str = "SMILES"):
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["CID", "Title", smiles_column, "InChIKey"])
        for cid, title, smiles in ISOMERS:
            writer.writerow([cid, title, smiles, _inchikey(smiles)])
    return path


def test_a_pubchem_csv_is_a_pool_with_cids_and_titles(tiny_models, spectra, tmp_path):
    candidates = _pubchem_csv(tmp_path / "PubChem_compound_text.csv")
    description = describe_table_columns(candidates)
    assert "identifier from 'CID'" in description and "name from 'Title'" in description
    assert "one pool" in description  # Title is a compound name, not a spectrum id
    results = Annotator.load(tiny_models["positive"]).annotate(spectra, candidates, top_k=None, errors=ErrorReport())
    rows = results.rows()
    assert {row["identifier"] for row in rows} == {str(cid) for cid, _, _ in ISOMERS}
    assert {row["name"] for row in rows} == {title for _, title, _ in ISOMERS}


def test_the_command_says_which_columns_it_used(tiny_models, spectra, tmp_path):
    candidates = _pubchem_csv(tmp_path / "pubchem.csv")
    output = tmp_path / "out.tsv"
    result = CliRunner().invoke(
        main,
        ["annotate", str(spectra), "-c", str(candidates), "--model", str(tiny_models["positive"]), "-o", str(output)],
    )
    assert result.exit_code == 0, result.output
    assert "candidates: " in result.output and "smiles from 'SMILES'" in result.output
    assert "1 spectra annotated" in result.output


@pytest.mark.parametrize("column", ["IsomericSMILES", "CanonicalSMILES"])
def test_pubchem_smiles_column_names_are_accepted(tmp_path, column):
    entries = read_candidates(_pubchem_csv(tmp_path / "pubchem.csv", column))
    assert [entry.candidate.identifier for entry in entries] == [str(cid) for cid, _, _ in ISOMERS]


def test_an_explicit_spectrum_id_column_makes_per_spectrum_lists(tiny_models, spectra, tmp_path):
    table = tmp_path / "lists.tsv"
    table.write_text(
        "Feature\tCID\tSMILES\n" + "".join(f"feature-1\t{cid}\t{smiles}\n" for cid, _, smiles in ISOMERS[:2])
    )
    assert "per-spectrum lists keyed by 'Feature'" in describe_table_columns(table, "Feature")
    errors = ErrorReport()
    results = Annotator.load(tiny_models["positive"]).annotate(
        spectra, table, top_k=None, errors=errors, spectrum_id_column="Feature"
    )
    assert results[0].n_candidates == 2 and not len(errors)
    with pytest.raises(InputFileError, match="'Sample'"):
        read_candidates(table, spectrum_id_column="Sample")


def test_an_sdf_names_candidates_by_their_pubchem_cid(tmp_path):
    sdf = tmp_path / "PubChem.sdf"
    writer = Chem.SDWriter(str(sdf))
    for cid, title, smiles in ISOMERS:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", str(cid))
        mol.SetProp("PUBCHEM_COMPOUND_CID", str(cid))
        mol.SetProp("PUBCHEM_IUPAC_NAME", title)
        writer.write(mol)
    writer.close()
    entries = read_candidates(sdf)
    assert [entry.candidate.identifier for entry in entries] == [str(cid) for cid, _, _ in ISOMERS]
    assert [entry.candidate.name for entry in entries] == [title for _, title, _ in ISOMERS]


def test_a_dataframe_and_named_molecules_are_candidates(tiny_models, spectra, tmp_path):
    pandas = pytest.importorskip("pandas", reason="pandas is an optional extra")
    annotator = Annotator.load(tiny_models["positive"])
    from_file = annotator.annotate(spectra, _pubchem_csv(tmp_path / "p.csv"), top_k=None, errors=ErrorReport())
    frame = pandas.read_csv(tmp_path / "p.csv")
    from_frame = annotator.annotate(spectra, frame, top_k=None, errors=ErrorReport())
    assert [row["identifier"] for row in from_frame.rows()] == [row["identifier"] for row in from_file.rows()]
    assert [row["score"] for row in from_frame.rows()] == pytest.approx([row["score"] for row in from_file.rows()])

    molecules = []
    for cid, _, smiles in ISOMERS:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", f"CID{cid}")
        molecules.append(mol)
    from_molecules = annotator.annotate(spectra, molecules, top_k=None, errors=ErrorReport())
    assert {row["identifier"] for row in from_molecules.rows()} == {f"CID{cid}" for cid, _, _ in ISOMERS}


def test_a_single_spectrum_is_annotated(tiny_models):
    spectrum = Spectrum(
        mz=np.array([77.039, 105.033, 163.075]),
        intensities=np.array([20.0, 100.0, 45.0]),
        metadata={"title": "one", "precursor_mz": 181.0859, "ionmode": "positive", "charge": 1},
    )
    annotator = Annotator.load(tiny_models["positive"])
    results = annotator.annotate(spectrum, [smiles for _, _, smiles in ISOMERS], errors=ErrorReport())
    assert [annotation.spectrum_id for annotation in results] == ["one"] and results[0].n_candidates == 3
    assert list(annotator.predict_fingerprint(spectrum)) == ["one"]


def test_without_an_error_report_bad_records_are_announced(tiny_models, spectra):
    annotator = Annotator.load(tiny_models["positive"])
    with pytest.warns(SkippedRecordsWarning, match="1 record"):
        annotator.annotate(spectra, ["COC(=O)CCc1ccc(O)cc1", "C1CC("])
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedRecordsWarning)
        annotator.annotate(spectra, ["COC(=O)CCc1ccc(O)cc1"])  # nothing bad: no warning


def test_formula_and_element_filters(tiny_models, spectra):
    annotator = Annotator.load(tiny_models["positive"])
    pool = [smiles for _, _, smiles in ISOMERS] + [CHLORINATED[2], "CC(=O)Oc1ccccc1C(=O)O"]  # aspirin: C9H8O4
    assert len(annotator.candidate_set(pool, ErrorReport(), elements="CHO")) == 4
    assert len(annotator.candidate_set(pool, ErrorReport(), formula="C10H12O3")) == 3
    assert len(annotator.candidate_set(pool, ErrorReport(), formula="H12C10O3")) == 3  # element order is free
    assert len(annotator.candidate_set(pool, ErrorReport(), elements="C,H,O,Cl")) == 5
    results = annotator.annotate(spectra, pool, top_k=None, formula="C10H12O3", errors=ErrorReport())
    assert results[0].n_candidates == 3
    with pytest.raises(ValueError, match="formula"):
        candidate_filter(formula="C10H12O3x")
