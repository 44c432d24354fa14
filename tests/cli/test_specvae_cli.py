"""The specvae command line: annotate, predict, fingerprint, info, and prepare + train on real MassBank records."""

from __future__ import annotations

import csv
import gzip
import json

import h5py
import pytest
from click.testing import CliRunner
from tests_specvae_inputs import MGF

from specvae.model_file import read_metadata
from specvae_cli.specvae_cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")




def _first_massbank_records(relative: str, n_records: int, path):
    """The first ``n_records`` MGF blocks of a real MassBank file, written to ``path``."""
    from shared_helpers import real_data_path  # noqa: I001

    with gzip.open(real_data_path(relative), "rt") as handle, path.open("w") as out:
        blocks = 0
        for line in handle:
            out.write(line)
            blocks += line.startswith("END IONS")
            if blocks == n_records:
                break
    return path


def _models(tiny_models) -> list[str]:
    return ["--model", str(tiny_models["positive"]), "--model", str(tiny_models["negative"])]


def test_annotate_writes_a_table_reports_bad_records_and_exits_0(tiny_models, inputs, tmp_path):
    """A finished run with bad records exits 0 (a workflow engine reads 1 as failure) and reports them on stderr
    and in --errors; --strict makes the same run exit 1."""
    spectra, candidates = inputs
    output, errors = tmp_path / "out.tsv", tmp_path / "errors.tsv"
    result = CliRunner().invoke(
        main,
        [
            "annotate",
            str(spectra),
            "--candidates",
            str(candidates),
            *_models(tiny_models),
            "-o",
            str(output),
            "--top-k",
            "2",
            "--errors",
            str(errors),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no-precursor" in result.output  # on stderr (CliRunner mixes the streams)
    assert "2 record(s) could not be processed" in result.output
    rows = list(csv.DictReader(output.open(), delimiter="\t"))
    assert [row["spectrum_id"] for row in rows] == ["pos-1", "pos-1", "neg-1", "odd-adduct"]
    assert list(rows[0]) == [
        "spectrum_id",
        "rank",
        "score",
        "confidence",
        "identifier",
        "name",
        "inchikey",
        "inchikey14",
        "n_stereoisomers",
        "smiles",
        "molecular_formula",
        "adduct",
        "precursor_mz",
        "retention_time",
        "mass_error_ppm",
        "n_candidates",
        "binned_intensity_fraction",
        "status",
    ]
    assert rows[0]["rank"] == "1" and rows[0]["n_candidates"] == "3" and rows[0]["status"] == "ok"
    assert rows[0]["inchikey14"] == rows[0]["inchikey"][:14] and rows[0]["adduct"] == "[M+H]+"
    assert float(rows[0]["precursor_mz"]) > 0
    error_rows = list(csv.DictReader(errors.open(), delimiter="\t"))
    assert {row["title"] for row in error_rows} >= {"no-precursor"}
    assert len(error_rows) == 2
    strict = CliRunner().invoke(
        main, ["annotate", str(spectra), "-c", str(candidates), *_models(tiny_models), "-o", str(output), "--strict"]
    )
    assert strict.exit_code == 1, strict.output


def test_annotate_json_and_clean_exit(tiny_models, tmp_path):
    spectra = tmp_path / "one.mgf"
    spectra.write_text(MGF.split("\n\n")[0] + "\n")
    candidates = tmp_path / "pool.smi"
    candidates.write_text("COC(=O)CCc1ccc(O)cc1 methyl-ester\nCCOC(=O)c1ccc(O)cc1C\nCCO ethanol\n")
    output = tmp_path / "out.json"
    result = CliRunner().invoke(
        main,
        ["annotate", str(spectra), "-c", str(candidates), *_models(tiny_models), "-o", str(output), "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    annotations = json.loads(output.read_text())
    assert [a["spectrum_id"] for a in annotations] == ["pos-1"]
    assert annotations[0]["n_candidates"] == 2  # ethanol is outside 10 ppm


def test_failed_run_leaves_no_partial_output(tiny_models, inputs, tmp_path):
    spectra, _ = inputs
    output = tmp_path / "out.tsv"
    output.write_text("previous results\n")
    missing_format = tmp_path / "candidates.xyz"
    missing_format.write_text("x")
    result = CliRunner().invoke(
        main, ["annotate", str(spectra), "-c", str(missing_format), *_models(tiny_models), "-o", str(output)]
    )
    assert result.exit_code != 0
    assert "candidates.xyz" in result.output
    assert output.read_text() == "previous results\n"


def test_predict_fingerprint_and_info(tiny_models, inputs, tmp_path):
    spectra, candidates = inputs
    predictions = tmp_path / "fps.h5"
    result = CliRunner().invoke(main, ["predict", str(spectra), *_models(tiny_models), "-o", str(predictions)])
    assert result.exit_code == 0  # the spectrum without precursor is reported; the run finished
    with h5py.File(predictions) as handle:
        assert sorted(handle["positive/spectrum_id"].asstr()[()]) == ["odd-adduct", "pos-1"]
        assert handle["positive/probabilities"].shape == (2, 64)

    cache = tmp_path / "cands.h5"
    first = CliRunner().invoke(main, ["fingerprint", str(candidates), "-o", str(cache)])
    assert "computed now" in first.output and first.exit_code == 0  # the invalid SMILES row is reported
    second = CliRunner().invoke(main, ["fingerprint", str(candidates), "-o", str(cache)])
    assert "(0 computed now)" in second.output

    info = CliRunner().invoke(main, ["info", str(tiny_models["positive"])])
    assert info.exit_code == 0 and "ion mode:      positive" in info.output and "64 bits kept" in info.output


@pytest.mark.data
def test_prepare_and_train_on_real_massbank_records(tmp_path):
    subset = _first_massbank_records("massbank/massbank_positive.mgf.gz", 400, tmp_path / "subset.mgf")
    excluded = tmp_path / "exclude.txt"
    excluded.write_text("KWILGNNWGSNMPA-UHFFFAOYSA-N\n")  # Mellein, the first records of the file
    training_set = tmp_path / "train.h5"
    runner = CliRunner()
    prepared = runner.invoke(
        main,
        ["prepare", str(subset), "-o", str(training_set), "--exclude-structures", str(excluded), "--bin-width", "1.0"],
    )
    assert prepared.exit_code == 0, prepared.output
    with h5py.File(training_set) as handle:
        assert "KWILGNNWGSNMPA" not in set(handle["structures/inchikey14"].asstr()[()])
        splits = set(handle["structures/split"].asstr()[()])
        assert splits == {"train", "validation", "test"}

    model = tmp_path / "model.specvae"
    trained = runner.invoke(
        main,
        [
            "train",
            str(training_set),
            "-o",
            str(model),
            "--epochs",
            "2",
            "--latent-dim",
            "8",
            "--hidden-dim",
            "32",
            "--num-threads",
            "1",
        ],
    )
    assert trained.exit_code == 0, trained.output
    metadata = read_metadata(model)
    assert metadata.training["best_epoch"] in (1, 2)
    assert "KWILGNNWGSNMPA" not in metadata.training_structures
    assert 0.0 <= metadata.training["validation_metrics"]["retrieval_top1"] <= 1.0


@pytest.mark.data
def test_prepare_with_the_fast_fingerprint_trains_a_model_that_carries_it(tmp_path):
    from specvae.fingerprints import FingerprintDefinition, fingerprint_preset

    subset = _first_massbank_records("massbank/massbank_positive.mgf.gz", 200, tmp_path / "subset.mgf")
    training_set, model = tmp_path / "train.h5", tmp_path / "fast.specvae"
    runner = CliRunner()
    prepared = runner.invoke(
        main, ["prepare", str(subset), "-o", str(training_set), "--bin-width", "1.0", "--fingerprint", "fast"]
    )
    assert prepared.exit_code == 0, prepared.output
    with h5py.File(training_set) as handle:
        assert FingerprintDefinition.from_json(handle.attrs["fingerprint"]) == fingerprint_preset("fast")
        assert handle["structures/fingerprint_packed"].shape[1] == 3072 // 8
    options = ["--epochs", "1", "--latent-dim", "8", "--hidden-dim", "32", "--num-threads", "1"]
    trained = runner.invoke(main, ["train", str(training_set), "-o", str(model), *options])
    assert trained.exit_code == 0, trained.output
    carried = FingerprintDefinition.from_dict(read_metadata(model).fingerprint)
    assert carried.without_mask() == fingerprint_preset("fast") and carried.n_kept_bits < 3072


@pytest.mark.data
def test_prepare_with_the_precursor_as_input_trains_and_says_so(tmp_path):
    """--precursor-bin-width adds the precursor block; the model file keeps it and `specvae info` names it."""
    subset = _first_massbank_records("massbank/massbank_negative.mgf.gz", 200, tmp_path / "subset.mgf")
    training_set, model = tmp_path / "train.h5", tmp_path / "ff.specvae"
    runner = CliRunner()
    options = ["--bin-width", "1.0", "--neutral-loss-max", "50", "--precursor-bin-width", "100"]
    prepared = runner.invoke(main, ["prepare", str(subset), "-o", str(training_set), *options])
    assert prepared.exit_code == 0, prepared.output
    with h5py.File(training_set) as handle:
        assert tuple(handle["spectra"].attrs["shape"])[1] == 1000 + 50 + 10
    trained = runner.invoke(
        main,
        ["benchmark", "train-baseline", str(training_set), "-o", str(model), "--mode", "negative", "--epochs", "1",
         "--hidden-dim", "16", "--latent-dim", "8", "--num-threads", "1"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert read_metadata(model).binning["precursor_bin_width_da"] == 100.0
    described = runner.invoke(main, ["info", str(model)])
    assert described.exit_code == 0 and "+ the precursor m/z on 100.0 Da bins" in described.output


@pytest.mark.data
def test_specvae_train_runs_unchanged_under_torchrun(tmp_path):
    """Two gloo processes train the model; only rank 0 writes the model file and the checkpoints."""
    import os
    import subprocess
    import sys

    subset = _first_massbank_records("massbank/massbank_negative.mgf.gz", 300, tmp_path / "subset.mgf")
    training_set = tmp_path / "train.h5"
    assert (
        CliRunner().invoke(main, ["prepare", str(subset), "-o", str(training_set), "--bin-width", "1.0"]).exit_code == 0
    )
    model, checkpoints = tmp_path / "ddp.specvae", tmp_path / "checkpoints"
    environment = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "specvae_cli.specvae_cli",
        "train",
        str(training_set),
        "-o",
        str(model),
        "--mode",
        "negative",
        "--epochs",
        "2",
        "--latent-dim",
        "8",
        "--hidden-dim",
        "32",
        "--batch-size",
        "32",
        "--checkpoint-dir",
        str(checkpoints),
    ]
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stderr.count("best epoch") == 1  # rank 0 alone reports
    metadata = read_metadata(model)
    assert metadata.ion_mode == "negative" and len(metadata.training["history"]) == 2
    assert not list(tmp_path.glob(".ddp.specvae.*"))  # no temporary file left behind
