"""The fuzz campaign as a bounded CI test: damaged files of every input format (and fingerprint caches),
each outcome a clean read or a clear error (never a crash, never a record lost or changed in silence); and the
campaign's own accounting."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_campaign.py"
_spec = importlib.util.spec_from_file_location("fuzz_campaign", _SCRIPT)
fuzz_campaign = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_campaign"] = fuzz_campaign
_spec.loader.exec_module(fuzz_campaign)


@pytest.fixture(autouse=True, scope="module")
def _close_the_cache_worker():
    """The campaign looks caches up in a worker process (a damaged HDF5 file can hang libhdf5): closed here."""
    yield
    while fuzz_campaign._CACHE_WORKER:
        fuzz_campaign._CACHE_WORKER.pop().terminate()


# 8 formats x 12 files: a few seconds on one core. The recorded campaign runs 10,000 per format.
FUZZ = settings(max_examples=12, deadline=None, derandomize=True)


@pytest.mark.parametrize("fmt", fuzz_campaign.FORMATS)
@FUZZ
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_damaged_files_give_clean_reads_or_clear_errors(fmt: str, seed: int, tmp_path_factory) -> None:
    directory = tmp_path_factory.mktemp(fmt)
    outcome, why, _, data, damage = fuzz_campaign.run_one(fmt, random.Random(seed), directory)
    assert outcome in ("clean", "clear error"), f"{fmt} seed {seed}: {outcome} after {damage.names}: {why}"


@pytest.mark.parametrize("fmt", sorted(fuzz_campaign.GENERATORS))
def test_valid_files_read_clean(fmt: str, tmp_path) -> None:
    """Without mutations every generated file is read whole: the campaign's account of a file is right."""
    rng = random.Random(0)
    for _ in range(10):
        generated = fuzz_campaign.GENERATORS[fmt](rng)
        path = tmp_path / f"valid{generated.suffix}"
        path.write_text("".join(generated.lines), encoding="utf-8")
        read = fuzz_campaign.READERS[fmt](path)
        assert fuzz_campaign.verdict(generated, fuzz_campaign.Damage(), read, path) == ("clean", "")


def test_a_lost_record_without_an_error_is_silent(tmp_path) -> None:
    """The verdict's own check: a record missing from what was read, with no error, is a silent loss."""
    generated = fuzz_campaign.generate_mgf(random.Random(1))
    path = tmp_path / "valid.mgf"
    path.write_text("".join(generated.lines), encoding="utf-8")
    read = fuzz_campaign.READERS["mgf"](path)
    read.records.pop()
    outcome, why = fuzz_campaign.verdict(generated, fuzz_campaign.Damage(), read, path)
    assert outcome == "silent" and "missing" in why
