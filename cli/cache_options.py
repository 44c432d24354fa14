"""The ``--rebuild-cache`` option and the messages about damaged fingerprint caches, shared by ``specvae annotate``,
``specvae fingerprint`` and ``specvae benchmark`` (one wording, one way out)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

rebuild_cache_option = click.option(
    "--rebuild-cache",
    is_flag=True,
    help="If the fingerprint cache is damaged, move it aside to <name>.corrupt-<time> and rebuild it.",
)
REBUILD_HINT = " (run again with --rebuild-cache to move the damaged cache aside and rebuild it)"


def cache_error_message(error: Exception) -> str:
    """The message of an error, with the way out when it is a damaged fingerprint cache."""
    from specvae.fingerprints import FingerprintCacheError, FingerprintCacheMismatchError

    damaged = isinstance(error, FingerprintCacheError) and not isinstance(error, FingerprintCacheMismatchError)
    return str(error) + (REBUILD_HINT if damaged and "--rebuild-cache" not in str(error) else "")


def report_moved_aside(cache_path: str | Path, moved_aside: Iterable[str | Path]) -> None:
    """Say on stderr which damaged caches ``--rebuild-cache`` moved aside (warnings may be filtered)."""
    for aside in moved_aside:
        click.echo(f"warning: {cache_path}: damaged fingerprint cache moved aside to {aside}; rebuilt", err=True)
