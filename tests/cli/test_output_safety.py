"""No command destroys a file: outputs equal to inputs are refused before any work with exit
code 2, unwritable output paths are found before the work, and special files and symlinks are written, not replaced.
"""

from __future__ import annotations

import csv
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests_specvae_inputs import CANDIDATES, MGF

from specvae_cli.mmcore_cli import main as mmcore_main
from specvae_cli.specvae_cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
EXIT_USAGE = 2
REPOSITORY = Path(__file__).resolve().parents[2]




def _models(tiny_models) -> list[str]:
    return ["--model", str(tiny_models["positive"]), "--model", str(tiny_models["negative"])]


def _annotate(tiny_models, spectra, candidates, *options: str):
    arguments = ["annotate", str(spectra), "-c", str(candidates), *_models(tiny_models), *options]
    return CliRunner().invoke(main, arguments)


def _refused(result, *words: str) -> None:
    assert result.exit_code == EXIT_USAGE, result.output
    for word in words:
        assert word in result.output


# ----- an output that is an input, or another output: refused before any work -----
def test_annotate_output_equal_to_the_spectra_is_refused(tiny_models, inputs):
    spectra, candidates = inputs
    result = _annotate(tiny_models, spectra, candidates, "-o", str(spectra))
    _refused(result, "--output", "SPECTRA", "same file")
    assert spectra.read_text() == MGF


def test_annotate_output_equal_to_the_candidates_through_another_spelling_is_refused(tiny_models, inputs, tmp_path):
    spectra, candidates = inputs
    alias = tmp_path / "alias.csv"
    alias.symlink_to(candidates)
    for spelling in (str(alias), str(tmp_path / "." / "candidates.csv")):
        _refused(_annotate(tiny_models, spectra, candidates, "-o", spelling), "--candidates")
    assert candidates.read_text() == CANDIDATES


def test_annotate_errors_equal_to_output_is_refused(tiny_models, inputs, tmp_path):
    spectra, candidates = inputs
    output = tmp_path / "out.tsv"
    output.write_text("previous results\n")
    result = _annotate(tiny_models, spectra, candidates, "-o", str(output), "--errors", str(output))
    _refused(result, "--output and --errors")
    assert output.read_text() == "previous results\n"


def test_fingerprint_cache_equal_to_an_input_is_refused(tiny_models, inputs):
    spectra, candidates = inputs
    result = _annotate(tiny_models, spectra, candidates, "--fingerprint-cache", str(candidates))
    _refused(result, "--fingerprint-cache")
    assert candidates.read_text() == CANDIDATES


def test_output_equal_to_a_model_is_refused(tiny_models, inputs):
    spectra, candidates = inputs
    before = tiny_models["positive"].read_bytes()
    _refused(_annotate(tiny_models, spectra, candidates, "-o", str(tiny_models["positive"])), "--model")
    assert tiny_models["positive"].read_bytes() == before


def test_predict_output_equal_to_the_spectra_is_refused(tiny_models, inputs):
    spectra, _ = inputs
    result = CliRunner().invoke(main, ["predict", str(spectra), *_models(tiny_models), "-o", str(spectra)])
    _refused(result, "SPECTRA")
    assert spectra.read_text() == MGF


def test_fingerprint_output_equal_to_the_candidates_is_refused(inputs, tmp_path):
    _, candidates = inputs
    result = CliRunner().invoke(main, ["fingerprint", str(candidates), "-o", str(candidates)])
    _refused(result, "CANDIDATES")
    errors_too = CliRunner().invoke(
        main, ["fingerprint", str(candidates), "-o", str(tmp_path / "c.h5"), "--errors", str(candidates)]
    )
    _refused(errors_too, "--errors")
    assert candidates.read_text() == CANDIDATES


def test_prepare_output_equal_to_a_spectrum_file_is_refused(inputs):
    spectra, _ = inputs
    second = spectra.with_name("second.mgf")
    second.write_text(MGF)
    result = CliRunner().invoke(main, ["prepare", str(spectra), str(second), "-o", str(second)])
    _refused(result, "SPECTRUM_FILES")
    assert second.read_text() == MGF


def test_train_output_equal_to_the_training_set_is_refused(tmp_path):
    training_set = tmp_path / "train.h5"
    training_set.write_bytes(b"not really a training set")
    result = CliRunner().invoke(main, ["train", str(training_set), "-o", str(training_set)])
    _refused(result, "TRAINING_SET")
    assert training_set.read_bytes() == b"not really a training set"


# ----- unwritable output paths: found before the work -----
def test_output_in_a_folder_that_cannot_exist_is_refused_first(tiny_models, inputs, tmp_path):
    spectra, candidates = inputs
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    result = _annotate(tiny_models, spectra, candidates, "-o", str(tmp_path / "out.tsv"), "--errors", f"{a_file}/e.tsv")
    _refused(result, "--errors", "is not a folder")
    assert not (tmp_path / "out.tsv").exists()  # nothing annotated, nothing written


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_output_in_a_read_only_folder_is_refused_first(tiny_models, inputs, tmp_path):
    spectra, candidates = inputs
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        _refused(_annotate(tiny_models, spectra, candidates, "-o", str(locked / "out.tsv")), "not writable")
    finally:
        locked.chmod(0o755)


def test_output_folders_of_train_and_benchmarks_are_checked_first(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    inside_a_file = str(a_file / "run")
    trained = CliRunner().invoke(
        mmcore_main, ["train", "--benchmark", "mnist-split", "--model", "svae", "-o", inside_a_file]
    )
    _refused(trained, "--output-dir", "is not a folder")
    grid = CliRunner().invoke(mmcore_main, ["benchmark", "mnist-split", "--models", "svae", "-o", inside_a_file])
    _refused(grid, "--output-dir")
    casmi = CliRunner().invoke(main, ["benchmark", "casmi2016", "-o", inside_a_file])
    _refused(casmi, "--output")


# ----- special files and symlinks: written, never replaced -----
@pytest.mark.skipif(os.geteuid() != 0, reason="only root can replace /dev/null, so only root shows the bug")
def test_annotate_to_dev_null_keeps_the_device(tiny_models, inputs):
    spectra, candidates = inputs
    before = os.stat("/dev/null")
    result = _annotate(tiny_models, spectra, candidates, "-o", "/dev/null", "--errors", "/dev/null")
    assert result.exit_code == 0, result.output  # the fixture's bad records are reported; nothing refused
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_annotate_through_a_symlink_keeps_the_link(tiny_models, inputs, tmp_path):
    spectra, candidates = inputs
    results = tmp_path / "results"
    results.mkdir()
    target = results / "real.tsv"
    target.write_text("old\n")
    link = tmp_path / "latest.tsv"
    link.symlink_to(target)
    result = _annotate(tiny_models, spectra, candidates, "-o", str(link))
    assert result.exit_code == 0, result.output  # bad records reported, run finished
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("spectrum_id\trank")


def test_annotate_errors_into_a_fifo(tiny_models, inputs, tmp_path):
    spectra, candidates = inputs
    fifo = tmp_path / "errors.pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    result = _annotate(tiny_models, spectra, candidates, "-o", str(tmp_path / "out.tsv"), "--errors", str(fifo))
    reader.join(timeout=30)
    if reader.is_alive():  # the command never opened the pipe: release the reader before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"nothing was written to the FIFO: {result.output}")
    assert result.exit_code == 0, result.output  # bad records reported, run finished
    rows = list(csv.reader(received[0].splitlines(), delimiter="\t"))
    assert rows[0] == ["file", "record", "title", "reason"] and len(rows) > 1
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


# ----- a stopped run (SIGTERM) unwinds: exit status 143, no traceback, no temporary files -----
def test_sigterm_stops_specvae_cleanly(tiny_models, inputs, tmp_path):
    """Stopped while it waits to write into a pipe nobody reads: exit 143, no traceback, its temporary file gone."""
    spectra, candidates = inputs
    fifo = tmp_path / "nobody-reads.pipe"
    os.mkfifo(fifo)
    temporary_folder = tmp_path / "tmp"
    temporary_folder.mkdir()
    command = [sys.executable, "-m", "specvae_cli.specvae_cli", "annotate", str(spectra), "-c", str(candidates)]
    process = subprocess.Popen(
        [*command, *_models(tiny_models), "-o", str(fifo)],
        cwd=REPOSITORY,
        env={**os.environ, "TMPDIR": str(temporary_folder)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        # the finished table waits in a temporary file while open() blocks on the pipe
        while not list(temporary_folder.glob("specvae-output.*.tmp")):
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "specvae never reached the output"
            time.sleep(0.05)
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=60)
    finally:
        process.kill()
    assert status == 128 + signal.SIGTERM
    assert "Traceback" not in process.stderr.read()
    assert not list(temporary_folder.glob("specvae-output.*"))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
