"""``specvae annotate`` on damaged spectrum files: output and errors file are written, bad records named.

Regression: ``CHARGE=abc`` raised an AssertionError inside matchms, and the CLI wrote neither
the output nor the errors file (all good records of the file lost). The good records' rows must be those of
a run on the same file without the bad records.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests_specvae_inputs import CANDIDATES, MGF

from specvae_cli.specvae_cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

GOOD_BLOCKS = [block for block in MGF.strip().split("\n\n") if "TITLE=pos-1" in block or "TITLE=neg-1" in block]
BAD_CHARGE_BLOCK = """BEGIN IONS
TITLE=bad-charge
PEPMASS=181.0859
CHARGE=abc
IONMODE=POSITIVE
77.039 20
105.033 100
END IONS"""


def annotate(tiny_models, spectra: Path, candidates: Path, tmp_path: Path, name: str):
    output, errors = tmp_path / f"{name}.tsv", tmp_path / f"{name}-errors.tsv"
    models = ["--model", str(tiny_models["positive"]), "--model", str(tiny_models["negative"])]
    result = CliRunner().invoke(
        main,
        ["annotate", str(spectra), "-c", str(candidates), *models, "-o", str(output), "--errors", str(errors)],
    )
    rows = list(csv.DictReader(output.open(), delimiter="\t")) if output.exists() else None
    error_rows = list(csv.DictReader(errors.open(), delimiter="\t")) if errors.exists() else None
    return result, rows, error_rows


def test_bad_charge_record_is_reported_and_the_others_annotated(tiny_models, tmp_path: Path) -> None:
    candidates = tmp_path / "candidates.csv"
    candidates.write_text("".join(line for line in CANDIDATES.splitlines(keepends=True) if ",bad," not in line))
    damaged = tmp_path / "damaged.mgf"
    damaged.write_text("\n\n".join([GOOD_BLOCKS[0], BAD_CHARGE_BLOCK, GOOD_BLOCKS[1]]) + "\n")
    clean = tmp_path / "clean.mgf"
    clean.write_text("\n\n".join(GOOD_BLOCKS) + "\n")

    result, rows, error_rows = annotate(tiny_models, damaged, candidates, tmp_path, "damaged")
    assert result.exit_code == 0, result.output  # the damaged record is reported; the run finished
    assert rows is not None and error_rows is not None, result.output
    assert [(row["file"], row["record"], row["title"]) for row in error_rows] == [(str(damaged), "2", "bad-charge")]
    assert "charge 'abc' is not an integer charge" in error_rows[0]["reason"]
    assert "bad-charge" in result.output  # also on stderr

    reference_result, reference_rows, reference_errors = annotate(tiny_models, clean, candidates, tmp_path, "clean")
    assert reference_result.exit_code == 0, reference_result.output
    assert {row["spectrum_id"] for row in rows} == {"pos-1", "neg-1"}
    assert rows == reference_rows


def test_block_without_begin_ions_leaks_nothing_into_the_next(tiny_models, tmp_path: Path) -> None:
    """Regression: the orphan block's ADDUCT=[M+Na]+ was applied to the intact record after it."""
    candidates = tmp_path / "candidates.csv"
    candidates.write_text("".join(line for line in CANDIDATES.splitlines(keepends=True) if ",bad," not in line))
    orphan = BAD_CHARGE_BLOCK.replace("BEGIN IONS\n", "").replace("CHARGE=abc", "ADDUCT=[M+Na]+")
    damaged = tmp_path / "damaged.mgf"
    damaged.write_text("\n\n".join([orphan, GOOD_BLOCKS[0]]) + "\n")
    clean = tmp_path / "clean.mgf"
    clean.write_text(GOOD_BLOCKS[0] + "\n")

    result, rows, error_rows = annotate(tiny_models, damaged, candidates, tmp_path, "damaged")
    assert result.exit_code == 0, result.output  # the damaged record is reported; the run finished
    assert [(row["file"], row["record"], row["title"]) for row in error_rows] == [
        (str(damaged), "line 1", "bad-charge")
    ]
    assert "END IONS without BEGIN IONS" in error_rows[0]["reason"]
    reference_result, reference_rows, _ = annotate(tiny_models, clean, candidates, tmp_path, "clean")
    assert reference_result.exit_code == 0, reference_result.output
    assert rows == reference_rows and {row["spectrum_id"] for row in rows} == {"pos-1"}
