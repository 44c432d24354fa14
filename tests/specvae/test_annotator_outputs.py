"""What a workflow reads from an annotation: the columns of a feature-list join, a row for every spectrum,
several adducts tried at once. The spectra are an MZmine/GNPS-style export (FEATURE_ID, RTINSECONDS, no ADDUCT)."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from specvae.annotator import Annotator, parse_adducts
from specvae.errors import ErrorReport, UnknownAdductError
from specvae_cli.specvae_cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# C10H12O3 (180.0786 Da) seen as [M+H]+ (feature 17) and as [M+Na]+ (feature 18); feature 19 fits nothing.
FEATURES_MGF = """BEGIN IONS
FEATURE_ID=17
PEPMASS=181.0859
CHARGE=1+
RTINSECONDS=312.4
MSLEVEL=2
SCANS=17
77.039 20
105.033 100
163.075 45
END IONS

BEGIN IONS
FEATURE_ID=18
PEPMASS=203.0679
CHARGE=1+
RTINSECONDS=330.0
MSLEVEL=2
SCANS=18
77.039 20
105.033 100
185.057 45
END IONS

BEGIN IONS
FEATURE_ID=19
PEPMASS=455.3001
CHARGE=1+
RTINSECONDS=401.9
MSLEVEL=2
SCANS=19
77.039 20
105.033 100
END IONS
"""

POOL_SMILES = ["COC(=O)CCc1ccc(O)cc1", "CCOC(=O)c1ccc(O)cc1C", "COc1ccc(CCC(=O)O)cc1", "CCO"]


@pytest.fixture
def features(tmp_path):
    path = tmp_path / "features.mgf"
    path.write_text(FEATURES_MGF)
    return path


def test_every_spectrum_has_a_row_with_its_precursor_and_retention_time(tiny_models, features):
    errors = ErrorReport()
    results = Annotator.load(tiny_models["positive"]).annotate(features, POOL_SMILES, top_k=2, errors=errors)
    rows = results.rows()
    assert [(row["spectrum_id"], row["status"]) for row in rows] == [
        ("17", "ok"),
        ("17", "ok"),
        ("18", "no_candidates"),  # [M+H]+ assumed: 202.06 Da fits no candidate
        ("19", "no_candidates"),
    ]
    first, missing = rows[0], rows[2]
    assert first["adduct"] == "[M+H]+" and first["precursor_mz"] == pytest.approx(181.0859)
    assert first["retention_time"] == pytest.approx(312.4)
    assert first["inchikey14"] == first["inchikey"].split("-")[0] and first["confidence"] is None
    assert missing["rank"] is None and missing["inchikey"] is None and missing["retention_time"] == pytest.approx(330.0)
    assert [error.title for error in errors] == ["18", "19"]  # still reported, with the reason in words


def test_several_adducts_are_each_tried_and_the_union_ranked(tiny_models, features):
    results = Annotator.load(tiny_models["positive"]).annotate(
        features, POOL_SMILES, top_k=None, adduct="[M+H]+, [M+Na]+, [M-H]-", errors=ErrorReport()
    )
    by_feature = {annotation.spectrum_id: annotation for annotation in results}
    assert {row.adduct for row in by_feature["17"].ranked} == {"[M+H]+"}
    assert {row.adduct for row in by_feature["18"].ranked} == {"[M+Na]+"}  # the negative adduct is not tried
    assert by_feature["17"].n_candidates == by_feature["18"].n_candidates == 3
    assert by_feature["19"].status == "no_candidates"


def test_adduct_lists_are_parsed_before_any_spectrum(tmp_path):
    assert [adduct.name for adduct in parse_adducts("[M+H]+,[M+Na]+")] == ["[M+H]+", "[M+Na]+"]
    assert parse_adducts(None) is None
    with pytest.raises(UnknownAdductError):
        parse_adducts("[M+H]+,[M+Qq]+")


def test_command_line_exit_codes_and_multi_adduct_table(tiny_models, features, tmp_path):
    output, errors = tmp_path / "out.tsv", tmp_path / "errors.tsv"
    base = ["annotate", str(features), "-c", str(tmp_path / "pool.smi"), "--model", str(tiny_models["positive"])]
    (tmp_path / "pool.smi").write_text("\n".join(POOL_SMILES) + "\n")
    result = CliRunner().invoke(
        main, [*base, "-o", str(output), "--errors", str(errors), "--adduct", "[M+H]+,[M+Na]+", "--top-k", "1"]
    )
    assert result.exit_code == 0, result.output  # feature 19 is reported, the run finished
    assert "1 record(s) could not be processed" in result.output
    rows = list(csv.DictReader(output.open(), delimiter="\t"))
    assert [(row["spectrum_id"], row["adduct"], row["status"]) for row in rows] == [
        ("17", "[M+H]+", "ok"),
        ("18", "[M+Na]+", "ok"),
        ("19", "", "no_candidates"),
    ]
    assert rows[2]["retention_time"] == "401.9" and rows[2]["rank"] == ""
    assert CliRunner().invoke(main, [*base, "-o", str(output), "--strict"]).exit_code == 1
    usage = CliRunner().invoke(main, [*base, "-o", str(output), "--adduct", "[M+H]+,[M+Qq]+"])
    assert usage.exit_code == 2 and "--adduct" in usage.output
