"""Turn SIGTERM into an exception, so that ``finally`` blocks and ``with`` exits run when a job is stopped.

Python's default for SIGTERM kills the process on the spot: no ``with atomic_output(...)`` block gets to
remove its temporary file, and a batch scheduler or ``kill`` leaves tens of megabytes of hidden ``.tmp``
files behind. Ctrl-C already raises ``KeyboardInterrupt``; this gives SIGTERM the same unwinding.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

EXIT_CODE_SIGTERM = 128 + signal.SIGTERM  # what a shell reports for a process killed by SIGTERM


class Terminated(SystemExit):
    """Raised in the main thread when the process receives SIGTERM.

    A ``SystemExit`` (not an ``Exception``), so that ``except Exception`` handlers do not swallow it, and the
    process ends with status 143 and no traceback, as if SIGTERM had killed it, after cleaning up.
    """

    def __init__(self) -> None:
        super().__init__(EXIT_CODE_SIGTERM)


def raise_on_sigterm() -> bool:
    """Install a SIGTERM handler that raises :class:`Terminated`; returns whether it was installed.

    Only the main thread may install signal handlers, so elsewhere (a CLI invoked from a worker thread) this
    does nothing. Child processes forked later (multiprocessing pools, data loader workers) inherit the
    handler, but there it restores the default and re-sends the signal: a pool's ``terminate()`` keeps
    killing its workers at once.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    owner = os.getpid()

    def handle(signal_number: int, _frame: FrameType | None) -> None:
        if os.getpid() != owner:
            signal.signal(signal_number, signal.SIG_DFL)
            os.kill(os.getpid(), signal_number)
            return
        raise Terminated()

    signal.signal(signal.SIGTERM, handle)
    return True
