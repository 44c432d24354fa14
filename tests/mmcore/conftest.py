"""Fixtures shared by the mmcore tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture()
def one_thread():
    """Run the test on one torch thread (tiny networks: threads cost more than they save), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
