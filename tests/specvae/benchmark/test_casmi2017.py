"""The CASMI 2017 loader and command on a small directory generated in the official release layout."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rdkit import Chem
from shared_helpers import write_tiny_model

from specvae.benchmark import load_casmi2017
from specvae.benchmark.challenges import BenchmarkDataError
from specvae_cli.specvae_benchmark_cli import EXIT_REFUSED, benchmark

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
SALICYLIC_ACID = "OC(=O)c1ccccc1O"
CAFFEINE = "Cn1cnc2c1c(=O)n(C)c(=O)n2C"
THEOPHYLLINE = "Cn1c2nc[nH]c2c(=O)n(C)c1=O"
L_ALANINE, D_ALANINE = "C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O"
PHENOL, BENZOIC_ACID = "Oc1ccccc1", "OC(=O)c1ccccc1"


def inchikey(smiles: str) -> str:
    return Chem.MolToInchiKey(Chem.MolFromSmiles(smiles))


def write_release(root: Path, answer_key_046: str | None = None) -> Path:
    """Challenges 046 (positive, TSV peaks, CSV candidates), 047 (negative, TSV candidates without InChIKeys),
    048 (positive, MGF, SDF candidates) and 001 (category 1, outside the default range)."""
    folder = root / "casmi2017"
    (folder / "challenges-046-243-msms").mkdir(parents=True)
    (folder / "candidates").mkdir()
    answers = {1: PHENOL, 46: ASPIRIN, 47: L_ALANINE, 48: CAFFEINE}
    with open(folder / "CASMI-solutions.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["", "Challenge", "SMILES", "InChIKey"])
        for index, (number, smiles) in enumerate(sorted(answers.items())):
            key = answer_key_046 if number == 46 and answer_key_046 else ""
            writer.writerow([index, f"challenge-{number:03d}", smiles + "\t", key])  # the release's trailing tab
    (folder / "summary-046-243.tsv").write_text(
        "challengename\tION_MODE\tPRECURSOR_MZ\n"
        "challenge-046\tPOSITIVE\t181.0495\nchallenge-047\tNEGATIVE\t88.0404\nchallenge-048\tPOSITIVE\t195.0877\n"
    )
    (folder / "Chal1to45Summary.csv").write_text(
        "MS_files,MSMS_files,ESI Mode\nchallenge-001-ms.txt,challenge-001-msms.txt,Neg\n"
    )
    spectra = folder / "challenges-046-243-msms"
    (spectra / "challenge-046-msms.txt").write_text("121.0284\t100\n139.0390\t35.5\n163.0390\t12\n181.0495\t8\n")
    (spectra / "challenge-047-msms.txt").write_text("42.0338\t30\n44.9977\t10\n88.0404\t100\n")
    (spectra / "challenge-048-msms.mgf").write_text(
        "BEGIN IONS\nTITLE=challenge-048\nPEPMASS=195.0877\nCHARGE=1+\n"
        "138.0662 100\n110.0713 20\n195.0877 50\nEND IONS\n"
    )
    (folder / "challenge-001-msms.txt").write_text("65.0 10\n93.03 100\n")
    with open(folder / "candidates" / "challenge-046-candidates.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["Identifier", "SMILES", "InChI", "InChIKey"])
        for identifier, smiles in [("1", SALICYLIC_ACID), ("2", ASPIRIN), ("3", BENZOIC_ACID), ("2b", ASPIRIN)]:
            mol = Chem.MolFromSmiles(smiles)
            writer.writerow([identifier, smiles, Chem.MolToInchi(mol), inchikey(smiles)])
    (folder / "candidates" / "challenge-047-candidates.tsv").write_text(
        f"Identifier\tSMILES\nA\t{L_ALANINE}\nB\t{D_ALANINE}\nC\tNCC(=O)O\nD\tnot a smiles\n"
    )
    writer = Chem.SDWriter(str(folder / "candidates" / "challenge-048-candidates.sdf"))
    for name, smiles in [("caffeine", CAFFEINE), ("theophylline", THEOPHYLLINE)]:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", name)
        writer.write(mol)
    writer.close()
    return root


def test_loader_reads_the_release_layout(tmp_path) -> None:
    data = load_casmi2017(write_release(tmp_path))
    assert [c.name for c in data.challenges] == ["challenge-046", "challenge-047", "challenge-048"]
    assert [c.ion_mode for c in data.challenges] == ["positive", "negative", "positive"]
    first, second, third = data.challenges
    assert first.answer_inchikey == inchikey(ASPIRIN) and first.answer_smiles == ASPIRIN
    assert first.candidates.identifiers == ("1", "2", "3") and data.duplicate_candidates_dropped == 1
    assert first.spectrum.get("precursor_mz") == pytest.approx(181.0495)
    assert len(first.spectrum.peaks.mz) == 4 and first.spectrum.peaks.intensities.max() == pytest.approx(1.0)
    # no InChIKey column: computed; the invalid SMILES row is reported, not fatal
    assert second.candidates.inchikeys[:2] == (inchikey(L_ALANINE), inchikey(D_ALANINE))
    assert len(second.candidates) == 3 and any("not a smiles" in e.reason for e in data.problems)
    assert second.spectrum.get("ionmode") == "negative"
    assert third.candidates.inchikeys == (inchikey(CAFFEINE), inchikey(THEOPHYLLINE))
    assert third.spectrum.get("precursor_mz") == pytest.approx(195.0877)
    assert not data.verified and "no checksums" in data.verification
    assert set(data.files) >= {"CASMI-solutions.csv", "summary-046-243.tsv"}
    # category 1 is only loaded when asked for (it has no candidate list here)
    with_category_1 = load_casmi2017(tmp_path, first_challenge=1, last_challenge=46)
    assert [c.name for c in with_category_1.challenges] == ["challenge-001", "challenge-046"]
    assert with_category_1.challenges[0].ion_mode == "negative" and not len(with_category_1.challenges[0].candidates)


def test_loader_names_what_is_missing(tmp_path) -> None:
    with pytest.raises(BenchmarkDataError, match="CASMI-solutions.csv"):
        load_casmi2017(tmp_path)


def test_command_ranks_the_release_and_writes_the_report(tmp_path, tiny_models) -> None:
    root = write_release(tmp_path / "data")
    output = tmp_path / "report"
    arguments = ["casmi2017", "--data-dir", str(root), "-o", str(output), "--workers", "1"]
    arguments += ["--model", str(tiny_models["positive"]), "--model", str(tiny_models["negative"])]
    result = CliRunner().invoke(benchmark, arguments)
    assert result.exit_code == 0, result.output
    summary = json.loads((output / "summary.json").read_text())
    assert summary["benchmark"] == "casmi2017" and summary["data"]["n_challenges"] == 3
    assert summary["command"].startswith(f"specvae benchmark casmi2017 --data-dir {root} --model ")
    overall = summary["results"][summary["systems"][0]["label"]]["all"]
    assert overall["n_ranked"] == 3 and overall["n_answer_missing"] == 0
    with open(output / "ranks.tsv", newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    assert [row["n_candidates"] for row in rows] == ["3", "3", "2"]
    # the alanine enantiomers share a first block and a fingerprint: both count as the answer and tie
    assert rows[1]["n_answer_candidates"] == "2" and rows[1]["n_tied"] in ("2", "3")
    submission = (output / "submission" / "challenge-047.tsv").read_text().splitlines()
    assert len(submission) == 3 and all(float(line.split("\t")[1]) >= 1.0 for line in submission)
    assert (output / "topk_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "published, not run here" not in (output / "report.md").read_text()


def test_command_refuses_a_model_trained_on_an_answer_unless_forced(tmp_path) -> None:
    root = write_release(tmp_path / "data", answer_key_046="KWILGNNWGSNMPA-UHFFFAOYSA-N")
    model = write_tiny_model(tmp_path / "positive.specvae", "positive")
    arguments = ["casmi2017", "--data-dir", str(root), "--model", str(model), "--mode", "positive", "--workers", "1"]
    refused = CliRunner().invoke(benchmark, [*arguments, "-o", str(tmp_path / "refused")])
    assert refused.exit_code == EXIT_REFUSED
    assert "KWILGNNWGSNMPA" in refused.output and not (tmp_path / "refused").exists()
    forced = CliRunner().invoke(benchmark, [*arguments, "-o", str(tmp_path / "forced"), "--force"])
    assert forced.exit_code == 0, forced.output
    report = (tmp_path / "forced" / "report.md").read_text()
    assert "WARNING: run with --force" in report.split("## Data")[0] and "KWILGNNWGSNMPA" in report
