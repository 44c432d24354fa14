"""Explanations (specvae/explanation.py): contributions that add up to the score, named bits, and the
``--explain`` columns of ``specvae annotate``, on the shipped example."""

from __future__ import annotations

import csv
import io
import json
import re
from importlib import resources
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rdkit import Chem

from specvae import Annotator
from specvae.errors import ErrorReport
from specvae.explanation import BitContribution, Explanation, bit_contributions, format_contributions
from specvae.output import EXPLANATION_COLUMNS, OUTPUT_COLUMNS
from specvae.ranking import score_candidates
from specvae_cli.specvae_cli import main

EXAMPLES = Path(str(resources.files("specvae") / "examples"))


def test_contributions_are_relative_to_the_average_candidate_and_add_up_to_the_score():
    probabilities = np.array([0.9, 0.2, 0.5, 0.7])
    bits = np.array([[1, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 0]], dtype=bool)
    contributions, baselines = bit_contributions(probabilities, bits)
    log_odds = np.log(probabilities / (1 - probabilities))
    # Hand values: candidate 0 has bit 0 (2 of 3 candidates do) -> (1 - 2/3) * log_odds[0].
    assert contributions[0, 0] == pytest.approx(log_odds[0] / 3)
    assert contributions[0, 1] == pytest.approx(-2 * log_odds[1] / 3)  # lacks bit 1, which 2 of 3 have
    assert np.all(contributions[:, 2] == 0)  # a bit every candidate has tells them nothing
    scores = score_candidates(probabilities, bits)
    assert baselines == pytest.approx(np.full(3, scores.mean()))
    assert baselines + contributions.sum(axis=1) == pytest.approx(scores)


def test_labels_and_summary_columns():
    supporting = (
        BitContribution("FG: ester", 1.5, True, "[#6][CX3](=O)[OX2H0][#6]"),
        BitContribution("MACCS 140", 0.25, False, "[#8]", min_matches=4),
    )
    opposing = (BitContribution("Morgan r2 bit 7", -2.0, True, "cC(=O)O", (1, 2, 3)),)
    explanation = Explanation(score=-10.0, baseline_score=-9.5, supporting=supporting, opposing=opposing)
    assert [bit.label for bit in supporting] == ["FG: ester", "not MACCS 140: [#8] (4+ matches)"]
    assert format_contributions(opposing) == "Morgan r2 bit 7: cC(=O)O (-2.00)"
    assert explanation.other_bits_score(1) == pytest.approx(-10.0 + 9.5 - 1.5 + 2.0)
    assert explanation.other_bits_score() == pytest.approx(-10.0 + 9.5 - 1.75 + 2.0)
    assert set(explanation.summary()) == set(EXPLANATION_COLUMNS)


@pytest.fixture(scope="module")
def explained_example():
    errors = ErrorReport()
    annotator = Annotator.pretrained()
    results = annotator.annotate(
        EXAMPLES / "example_spectra.mgf", EXAMPLES / "example_candidates.csv", top_k=3, explain=True, errors=errors
    )
    return results


def test_example_explanations_add_up_to_the_ranking_score(explained_example):
    assert explained_example.explained and explained_example.annotated()
    conditioning = [
        row.explanation.formula_conditioning_score for a in explained_example.annotated() for row in a.ranked
    ]
    assert any(value != 0 for value in conditioning)  # the shipped models rank each formula's candidates
    for annotation in explained_example.annotated():
        baselines = {row.explanation.baseline_score for row in annotation.ranked}
        assert len(baselines) == 1  # one average candidate per list
        for row in annotation.ranked:
            explanation = row.explanation
            total = explanation.baseline_score + sum(bit.contribution for bit in explanation.supporting)
            total += sum(bit.contribution for bit in explanation.opposing) + explanation.fragment_formula_score
            total += explanation.formula_conditioning_score  # the shipped models also rank within each formula
            assert total == pytest.approx(row.score, rel=1e-9, abs=1e-9)
            assert explanation.fragment_formula_score <= 0  # the shipped models also score fragment formulas
            assert explanation.supporting and explanation.opposing
            assert all(a.contribution >= b.contribution > 0 for a, b in pairwise(explanation.supporting))
            assert all(a.contribution <= b.contribution < 0 for a, b in pairwise(explanation.opposing))


def test_example_bits_are_named_and_their_substructures_are_in_the_candidate(explained_example):
    n_morgan_checked = 0
    for annotation in explained_example.annotated():
        for row in annotation.ranked:
            mol = Chem.MolFromSmiles(row.smiles)
            for bit in row.explanation.supporting + row.explanation.opposing:
                assert isinstance(bit.name, str) and bit.name.strip() and bit.label.strip()
                assert "; " not in bit.label  # the TSV separator
                if not bit.present:
                    assert not bit.atoms
                    continue
                if bit.name.startswith("Morgan") and bit.smarts:
                    # The environment came from this candidate: its SMILES, read as SMARTS, matches it there.
                    matches = mol.GetSubstructMatches(Chem.MolFromSmarts(bit.smarts), useChirality=False)
                    assert any(set(match) == set(bit.atoms) for match in matches), (row.identifier, bit)
                    n_morgan_checked += 1
                elif bit.name.startswith("FG: "):
                    assert bit.atoms and max(bit.atoms) < mol.GetNumAtoms()
    assert n_morgan_checked > 10


def test_without_explain_the_table_is_unchanged():
    results = Annotator.pretrained("negative").annotate(
        EXAMPLES / "example_spectra.mgf", EXAMPLES / "example_candidates.csv", top_k=1, errors=ErrorReport()
    )
    assert not results.explained and results.columns() == OUTPUT_COLUMNS
    assert all(row.explanation is None for annotation in results for row in annotation.ranked)
    assert set(results.rows()[0]) == set(OUTPUT_COLUMNS)


_ITEM = re.compile(r"^(?P<label>.+) \((?P<value>[+-]\d+\.\d\d)\)$")


def test_explain_columns_of_the_command_add_up_to_the_score(tmp_path):
    output = tmp_path / "explained.tsv"
    result = CliRunner().invoke(main, ["annotate", "--example", "--explain", "--top-k", "2", "-o", str(output)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(output.read_text()), delimiter="\t"))
    assert list(rows[0]) == list(OUTPUT_COLUMNS + EXPLANATION_COLUMNS)
    ranked = [row for row in rows if row["status"] == "ok"]
    assert len(ranked) == 10
    for row in ranked:
        listed = 0.0
        for column in ("supporting_bits", "opposing_bits"):
            items = row[column].split("; ")
            assert 1 <= len(items) <= 5
            for item in items:
                match = _ITEM.match(item)
                assert match and match["label"].strip(), item
                value = float(match["value"])
                assert value >= 0 if column == "supporting_bits" else value <= 0
                listed += value
        # Cells are rounded (contributions to 0.01, the rest to 6 digits): 10 items × 0.005 at most.
        total = float(row["baseline_score"]) + listed + float(row["other_bits_score"])
        total += float(row["fragment_formula_score"]) + float(row["formula_conditioning_score"])
        assert total == pytest.approx(float(row["score"]), abs=0.06)


def test_explain_json_has_the_full_lists(tmp_path):
    output = tmp_path / "explained.json"
    result = CliRunner().invoke(
        main, ["annotate", "--example", "--explain", "--top-k", "1", "--format", "json", "-o", str(output)]
    )
    assert result.exit_code == 0, result.output
    for spectrum in json.loads(output.read_text()):
        for candidate in spectrum["candidates"]:
            explanation = candidate["explanation"]
            bits = explanation["supporting"] + explanation["opposing"]
            assert len(bits) > 10
            total = explanation["baseline_score"] + sum(bit["contribution"] for bit in bits)
            total += explanation["fragment_formula_score"] + explanation["formula_conditioning_score"]
            assert total == pytest.approx(candidate["score"], rel=1e-9)


def test_explain_is_refused_with_a_scheduler(tmp_path):
    result = CliRunner().invoke(
        main,
        ["annotate", "--example", "--explain", "--scheduler", "local:1", "--fingerprint-cache", str(tmp_path / "c.h5")],
    )
    assert result.exit_code == 2 and "--explain" in result.output
