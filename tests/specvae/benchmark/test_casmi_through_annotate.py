"""benchmarks/casmi_through_annotate.py: ranks of the answer read back from a `specvae annotate` output file."""

from __future__ import annotations

import gzip
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "casmi_through_annotate.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("casmi_through_annotate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


HEADER = (
    "spectrum_id\trank\tscore\tidentifier\tname\tinchikey\tsmiles\tmolecular_formula\tmass_error_ppm"
    "\tn_candidates\tbinned_intensity_fraction\n"
)
ANSWER = "AAAAAAAAAAAAAA-BBBBBBBBSA-N"


def _row(spectrum: str, rank: int, score: str, key: str, n: int) -> str:
    return f"{spectrum}\t{rank}\t{score}\tid{rank}\tname\t{key}\tC\tC\t\t{n}\t1\n"


def _write(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "annotations.tsv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def test_expected_rank_counts_ties_from_the_rank_column(script, tmp_path):
    # one better candidate, then a tied group of 3 holding 2 stereoisomers of the answer: 1 + (3 + 1) / (2 + 1)
    rows = [
        _row("C1", 1, "-10.5", "XXXXXXXXXXXXXX-UHFFFAOYSA-N", 5),
        _row("C1", 2, "-12", "AAAAAAAAAAAAAA-CCCCCCCCSA-N", 5),
        _row("C1", 2, "-12", "YYYYYYYYYYYYYY-UHFFFAOYSA-N", 5),
        _row("C1", 2, "-12", "AAAAAAAAAAAAAA-DDDDDDDDSA-N", 5),
        _row("C1", 5, "-13", "ZZZZZZZZZZZZZZ-UHFFFAOYSA-N", 5),
    ]
    rank = script.answer_rank_from_rows(script.read_annotations(_write(tmp_path, rows))["C1"], ANSWER)
    assert rank.present and rank.optimistic == 2
    assert rank.expected == pytest.approx(1 + 4 / 3)
    assert (rank.n_better, rank.n_tied, rank.n_answers_tied) == (1, 3, 2)


def test_rounded_scores_do_not_make_ties(script, tmp_path):
    # printed to 6 significant digits the two scores are equal; the ranks say the answer is second, alone
    rows = [
        _row("C1", 1, "-123.457", "XXXXXXXXXXXXXX-UHFFFAOYSA-N", 2),
        _row("C1", 2, "-123.457", ANSWER, 2),
    ]
    annotated = script.read_annotations(_write(tmp_path, rows))["C1"]
    assert script.answer_rank_from_rows(annotated, ANSWER).expected == 2
    assert script.answer_rank_from_printed_scores(annotated, ANSWER).expected == 1.5


def test_missing_answer_and_incomplete_output(script, tmp_path):
    rows = [_row("C1", 1, "-1", "XXXXXXXXXXXXXX-UHFFFAOYSA-N", 1), _row("C2", 1, "-1", ANSWER, 3)]
    annotated = script.read_annotations(_write(tmp_path, rows))
    assert not script.answer_rank_from_rows(annotated["C1"], ANSWER).present
    with pytest.raises(script.ComparisonError, match="top-k"):
        script.answer_rank_from_rows(annotated["C2"], ANSWER)


def test_benchmark_ranks_of_the_first_system(script, tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "ranks.tsv").write_text(
        "challenge\tion_mode\tsystem\tn_candidates\tn_answer_candidates\tanswer_present\toptimistic_rank"
        "\texpected_rank\tn_tied\tnote\n"
        "C1\tnegative\tSVAE\t5\t2\t1\t2\t2.33333\t3\t\n"
        "C2\tpositive\tSVAE\t4\t0\t0\t\t\t0\t\n"
        "C1\tnegative\tother\t5\t2\t1\t1\t1\t1\t\n",
        encoding="utf-8",
    )
    system, ranks = script.read_benchmark_ranks(report)
    assert system == "SVAE" and set(ranks) == {"C1", "C2"}
    assert ranks["C1"].rank.expected == pytest.approx(2.33333) and ranks["C1"].n_candidates == 5
    assert not ranks["C2"].rank.present


def test_inputs_are_what_a_user_writes(script, tmp_path):
    casmi = tmp_path / "casmi2016"
    casmi.mkdir()
    (casmi / "challenges_positive.mgf").write_text(
        "BEGIN IONS\nTITLE=Challenge-002\nPEPMASS=47.05\nCHARGE=1+\n30.0 10\nEND IONS\n", encoding="utf-8"
    )
    (casmi / "challenges_negative_massbank.mgf").write_text(
        "BEGIN IONS\nTITLE=Challenge-001\nPEPMASS=45.03\nCHARGE=1-\n30.0 10\nEND IONS\n", encoding="utf-8"
    )
    (casmi / "solutions.csv").write_text(
        '"ChallengeName","ION_MODE","INCHIKEY"\n'
        '"Challenge-001"," NEGATIVE","LFQSCWFLJHTTHZ-UHFFFAOYSA-N"\n'
        '"Challenge-002"," POSITIVE","LFQSCWFLJHTTHZ-UHFFFAOYSA-N"\n',
        encoding="utf-8",
    )
    with gzip.open(casmi / "candidates.csv.gz", "wt", encoding="utf-8") as stream:
        stream.write("challenge,Identifier,CompoundName,MonoisotopicMass,MolecularFormula,SMILES,InChI,InChIKey\n")
        inchi = '"InChI=1S/C2H6O/c1-2-3/h3H,2H3"'
        stream.write(f'Challenge-001,682,"ethanol, absolute",46.04,C2H6O,CCO,{inchi},LFQSCWFLJHTTHZ-UHFFFAOYSA-N\n')
        stream.write(f"Challenge-002,682,ethanol,46.04,C2H6O,CCO,{inchi},LFQSCWFLJHTTHZ-UHFFFAOYSA-N\n")
    spectra, candidates, solutions = script.write_inputs(casmi, tmp_path / "work", ["Challenge-001"])
    assert list(solutions) == ["Challenge-001"]
    assert spectra.read_text(encoding="utf-8").count("BEGIN IONS") == 1
    lines = candidates.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "spectrum_id,identifier,name,smiles,inchi,inchikey"
    assert lines[1:] == [
        'Challenge-001,682,"ethanol, absolute",CCO,"InChI=1S/C2H6O/c1-2-3/h3H,2H3",LFQSCWFLJHTTHZ-UHFFFAOYSA-N'
    ]
    assert script.answer_rows(candidates, solutions)["Challenge-001"][0].record == 1
    with pytest.raises(script.ComparisonError, match="Challenge-009"):
        script.write_inputs(casmi, tmp_path / "work", ["Challenge-009"])


def test_equal_ranks_as_ranks_tsv_prints_them(script):
    from specvae.benchmark.metrics import AnswerRank

    computed = AnswerRank(present=True, optimistic=2, expected=1 + 4 / 3)
    printed = AnswerRank(present=True, optimistic=2, expected=2.33333)

    def comparison(annotate, benchmark):
        return script.ChallengeComparison("C1", "negative", annotate, benchmark, 5, 5, annotate)

    assert comparison(computed, printed).same
    assert not comparison(AnswerRank(present=True, optimistic=2, expected=2.5), printed).same
    assert not comparison(AnswerRank(present=False), printed).same
    assert comparison(None, None).same
