"""Every benchmarking test trains tiny networks, on one thread (the ``one_thread`` fixture of tests/mmcore)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _on_one_thread(one_thread):
    yield
