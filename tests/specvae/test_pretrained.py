"""The models shipped in the package: they load, annotate the shipped example, and never saw a CASMI 2016 answer."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner
from shared_helpers import real_data_path

from specvae.annotator import Annotator, pretrained_model_path
from specvae.model_file import read_metadata
from specvae.output import describe_model
from specvae_cli.specvae_cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_shipped_models_are_small():
    """Under 20 MB a file (what the repository tracks) and 50 MB together (what the package ships)."""
    sizes = [pretrained_model_path(mode).stat().st_size for mode in ("positive", "negative")]
    assert max(sizes) < 20_000_000 and sum(sizes) <= 50_000_000


@pytest.mark.parametrize("ion_mode", ["positive", "negative"])
def test_shipped_model_describes_itself(ion_mode):
    path = pretrained_model_path(ion_mode)
    metadata = read_metadata(path)
    assert metadata.ion_mode == ion_mode
    assert set(metadata.training["licenses"]) == {"CC0", "CC BY", "CC BY-SA", "dl-de/by-2-0"}
    assert metadata.training["excluded_inchikey14_count"] > 0
    assert len(metadata.training_structures) > 1000
    text = describe_model(metadata)  # what `specvae info` prints: the fitted ranking terms too
    weight = metadata.training["fragment_formulas"]["weight"]
    assert f"formula weight {weight:g}" in text and "confidence:    fitted on" in text


@pytest.mark.data
def test_no_casmi2016_answer_structure_was_in_training():
    solutions = real_data_path("casmi2016/solutions.csv")
    with solutions.open(newline="") as handle:
        answers = {row["INCHIKEY"].strip().split("-")[0] for row in csv.DictReader(handle)}
    assert len(answers) > 150  # 208 answers, 188 distinct first blocks
    for ion_mode in ("positive", "negative"):
        assert not answers & read_metadata(pretrained_model_path(ion_mode)).training_structures


def test_main_job_annotates_the_shipped_example(tmp_path):
    output = tmp_path / "annotations.tsv"
    result = CliRunner().invoke(main, ["annotate", "--example", "-o", str(output)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(output.open(), delimiter="\t"))
    assert sorted({row["spectrum_id"] for row in rows}) == [
        "Challenge-010", "Challenge-018", "Challenge-082", "Challenge-104", "Challenge-164",
    ]
    assert all(row["rank"] for row in rows) and len(rows) == 50


def test_pretrained_annotator_serves_both_modes():
    annotator = Annotator.pretrained()
    assert set(annotator.models) == {"positive", "negative"}


@pytest.mark.parametrize("ion_mode", ["positive", "negative"])
def test_cli_default_fingerprint_is_the_shipped_models(ion_mode):
    # `specvae prepare` / `specvae fingerprint` default to a preset named by a literal (no RDKit import for --help):
    # it must stay the layout the shipped models were trained on, or a default cache would not serve them.
    from specvae.fingerprints import FingerprintDefinition, fingerprint_preset
    from specvae_cli.specvae_cli import DEFAULT_FINGERPRINT_PRESET

    shipped = FingerprintDefinition.from_dict(read_metadata(pretrained_model_path(ion_mode)).fingerprint).without_mask()
    assert shipped == fingerprint_preset(DEFAULT_FINGERPRINT_PRESET)
