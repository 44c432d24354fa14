"""Damaged model files and fingerprint caches end a command with one clear line, never a traceback, and a
damaged cache can be moved aside and rebuilt with --rebuild-cache."""

from __future__ import annotations

import shutil
import struct

import h5py
from click.testing import CliRunner

from specvae_cli.specvae_cli import main


def _annotate(tiny_models, inputs, cache, *extra):
    spectra, candidates = inputs
    arguments = ["annotate", str(spectra), "-c", str(candidates), "--model", str(tiny_models["positive"])]
    arguments += ["--model", str(tiny_models["negative"]), "--fingerprint-cache", str(cache), *extra]
    return CliRunner().invoke(main, arguments)


def test_a_damaged_cache_is_named_and_rebuilt_on_request(tiny_models, inputs, tmp_path):
    cache = tmp_path / "fp.h5"
    assert _annotate(tiny_models, inputs, cache).exit_code == 0  # record errors only (bad SMILES, no precursor)
    with h5py.File(cache, "r+") as handle:
        keys = handle["inchikeys"][:]
        keys[[0, 1]] = keys[[1, 0]]
        handle["inchikeys"][:] = keys
    result = _annotate(tiny_models, inputs, cache)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a ClickException, no traceback
    assert f"{cache}: damaged fingerprint cache" in result.output and "--rebuild-cache" in result.output
    assert "pos-1\t" not in result.output

    rebuilt = _annotate(tiny_models, inputs, cache, "--rebuild-cache")
    assert f"{cache}: damaged fingerprint cache moved aside to {cache}.corrupt-" in rebuilt.output
    assert len(list(tmp_path.glob("fp.h5.corrupt-*"))) == 1
    assert "pos-1\t1\t" in rebuilt.output  # ranked again, from the rebuilt cache


def test_a_damaged_model_is_one_line_in_predict_and_annotate(tiny_models, inputs, tmp_path):
    model = tmp_path / "positive.specvae"
    shutil.copy(tiny_models["positive"], model)
    raw = bytearray(model.read_bytes())
    start = 8 + struct.unpack("<Q", bytes(raw[:8]))[0]
    raw[(start + len(raw)) // 2] ^= 0x01
    model.write_bytes(bytes(raw))
    spectra, candidates = inputs
    for arguments in (
        ["predict", str(spectra), "--model", str(model), "-o", str(tmp_path / "p.h5")],
        ["annotate", str(spectra), "-c", str(candidates), "--model", str(model)],
    ):
        result = CliRunner().invoke(main, arguments)
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit)  # a ClickException, not an uncaught error
        assert "positive.specvae: the weights do not match their stored checksum" in result.output
