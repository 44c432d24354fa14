"""Python's cyclic garbage collector paused while a stage builds its objects.

Why: reading a candidate table, building its lists and planning, fingerprinting and scoring the spectra allocate
hundreds of thousands of small container objects (split rows, candidates, matches) that form no reference cycles,
and every few hundred allocations trigger a collection that walks the young ones, every few thousand one that walks
older ones as well. On CASMI 2016 (258,808 candidate rows) that walking was 2 to 3 s of a 15 s annotation and found
nothing to free. The stages free what they drop by reference counting alone; the rare cycle made while paused (an
exception's traceback) is collected when the collector runs again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector inside the block, and restore what it was (nested uses are fine: only the
    outermost one turns it back on). Reference counting goes on freeing memory as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
