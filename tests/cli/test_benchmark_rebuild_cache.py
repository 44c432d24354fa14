"""``specvae benchmark`` offers --rebuild-cache like annotate and fingerprint, with the same help and error hint."""

from __future__ import annotations

from click.testing import CliRunner

from specvae.fingerprints import FingerprintCacheError
from specvae_cli.cache_options import REBUILD_HINT, cache_error_message
from specvae_cli.specvae_cli import main


def test_benchmark_commands_take_rebuild_cache() -> None:
    for command in ("casmi2016", "casmi2017"):
        result = CliRunner().invoke(main, ["benchmark", command, "--help"])
        assert result.exit_code == 0 and "--rebuild-cache" in result.output


def test_a_damaged_cache_message_offers_the_way_out() -> None:
    assert cache_error_message(FingerprintCacheError("fp.h5: not an HDF5 file")).endswith(REBUILD_HINT)
    assert cache_error_message(ValueError("something else")) == "something else"
