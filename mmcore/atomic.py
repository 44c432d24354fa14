"""Write files so that a reader never sees half of one, without ever replacing what is not a regular file.

Where the output goes decides how it is written (see :func:`output_target`):

- a regular file, or a path that does not exist yet: write a temporary sibling, fsync, ``os.replace`` it over
  the path. A killed run leaves the old file or the new one, never half of one.
- a symlink: written *through*. The link is resolved and the file it points to is replaced as above; the link
  itself stays. (Replacing the link's path would turn it into a regular file and leave the target stale.)
- a character or block device, FIFO or socket (``/dev/null``, ``/dev/full``, a named pipe a reader waits on):
  written directly, opened for writing. Renaming a file over ``/dev/null`` as root would destroy the device
  for the whole machine. The content is first written to a private temporary file and then copied in, so
  that writers that must seek (HDF5, safetensors) work on a pipe too.
- ``-``: standard output, written the same way as a special file.

Temporary siblings are named ``.<name>.<pid>@<host>.<random>.tmp``: hidden, and carrying the writing
process, so that the next write to the same path can remove those left by a killed process
(:func:`remove_stale_temporaries`) without touching anything another live run is writing or any file that
only looks similar.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STDOUT = "-"
# A temporary file whose writer cannot be shown to be dead (another host, or a pid that may have been reused)
# is removed only once nothing has touched it for this long: every writer here finishes in seconds to minutes.
STALE_TEMPORARY_AGE_S = 3600.0
_RANDOM_PART = r"[a-z0-9_]{8}"  # what tempfile.mkstemp puts between prefix and suffix


class OutputKind(enum.Enum):
    """How :func:`atomic_output` writes a path."""

    REPLACE = "regular file (temporary sibling + rename)"
    DIRECT = "special file (opened for writing, never renamed)"
    STDOUT = "standard output"


@dataclass(frozen=True)
class OutputTarget:
    """Where writing ``requested`` really goes: ``path`` (a symlink's final target) and how (``kind``)."""

    requested: str
    path: Path
    kind: OutputKind


def output_target(path: str | os.PathLike[str]) -> OutputTarget:
    """Decide where and how a write to ``path`` goes (see the module docstring).

    Raises ``IsADirectoryError`` when ``path`` (or what a symlink points to) is a directory.

    >>> output_target("/dev/null").kind
    <OutputKind.DIRECT: 'special file (opened for writing, never renamed)'>
    """
    requested = os.fspath(path)
    if requested == STDOUT:
        return OutputTarget(requested, Path(STDOUT), OutputKind.STDOUT)
    resolved = Path(os.path.realpath(requested))  # follows every symlink, also a chain of them
    try:
        mode = os.stat(resolved).st_mode
    except (FileNotFoundError, NotADirectoryError):  # a new file, or a dangling symlink: create what it names
        return OutputTarget(requested, resolved, OutputKind.REPLACE)
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{requested}: is a directory, cannot write a file there")
    kind = OutputKind.REPLACE if stat.S_ISREG(mode) else OutputKind.DIRECT
    return OutputTarget(requested, resolved, kind)


def _host_tag() -> str:
    """Six hex digits naming this machine, so a pid is only judged on the host that owns it (shared folders)."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]


def temporary_name_pattern(target: Path) -> re.Pattern[str]:
    """The exact names of the temporary siblings this module makes for ``target`` (groups: pid, host)."""
    return re.compile(rf"\.{re.escape(target.name)}\.(\d+)@([0-9a-f]{{6}})\.{_RANDOM_PART}\.tmp")


def _legacy_name_pattern(target: Path, hidden: bool) -> re.Pattern[str]:
    """Names of temporary siblings made before they carried a pid (``mkstemp(prefix=".name.")``)."""
    dot = r"\." if hidden else ""
    return re.compile(rf"{dot}{re.escape(target.name)}\.{_RANDOM_PART}\.tmp")


def _process_is_dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # another user's live process; or a number that is no pid
        return False
    return False


def remove_stale_temporaries(
    target: str | os.PathLike[str],
    *,
    max_age_s: float = STALE_TEMPORARY_AGE_S,
    include_unhidden_legacy: bool = False,
) -> list[Path]:
    """Remove temporary siblings of ``target`` that a killed run left behind; return what was removed.

    Removed: files named exactly as :func:`atomic_output` names them for this target whose writing process
    on this host is dead, or that nobody has modified for ``max_age_s`` (another host's, or a reused pid);
    and, after ``max_age_s``, files named as earlier versions named them (``.<name>.<random>.tmp``; also
    ``<name>.<random>.tmp`` with ``include_unhidden_legacy``, the fingerprint cache's old names). Nothing
    else is touched, however similar its name. Failing to remove one is not an error: this is housekeeping.
    """
    target = Path(target)
    current = temporary_name_pattern(target)
    legacy = [_legacy_name_pattern(target, hidden=True)]
    if include_unhidden_legacy:
        legacy.append(_legacy_name_pattern(target, hidden=False))
    host, now = _host_tag(), time.time()
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = current.fullmatch(entry.name)
        if not match and not any(pattern.fullmatch(entry.name) for pattern in legacy):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > max_age_s
            dead = bool(match) and match.group(2) == host and _process_is_dead(int(match.group(1)))
            if (old or dead) and int(match.group(1) if match else -1) != os.getpid():
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def new_temporary_sibling(target: str | os.PathLike[str], *, include_unhidden_legacy: bool = False) -> Path:
    """Create an empty temporary file next to ``target``, named with this process's pid; clear stale ones first.

    For writers that manage the rename themselves (the fingerprint cache); others use :func:`atomic_output`.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target, include_unhidden_legacy=include_unhidden_legacy)
    prefix = f".{target.name}.{os.getpid()}@{_host_tag()}."
    handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    os.close(handle)
    return Path(temporary)


def _copy_into(source: Path, target: OutputTarget) -> None:
    """Copy a finished temporary file into a special file or standard output, without replacing anything."""
    with open(source, "rb") as stream:
        if target.kind is OutputKind.STDOUT:
            sys.stdout.flush()
            shutil.copyfileobj(stream, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        with open(target.path, "wb") as special:
            shutil.copyfileobj(stream, special)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success its content goes to ``path`` (see the module docstring).

    A regular file (or a new one) is replaced atomically by ``os.replace`` from a sibling, because that is
    atomic only within one file system; a symlink is written through, keeping the link; a special file or
    ``-`` (standard output) is written in place. If the block raises (also ``KeyboardInterrupt``, and SIGTERM
    where :func:`mmcore.interrupts.raise_on_sigterm` is installed), the temporary file is removed and
    ``path`` is left as it was.

    >>> with atomic_output("model.specvae") as tmp:  # doctest: +SKIP
    ...     save_file(tensors, tmp)
    """
    target = output_target(path)
    if target.kind is OutputKind.REPLACE:
        temporary_path = new_temporary_sibling(target.path)
        try:
            previous_mode = stat.S_IMODE(os.stat(target.path).st_mode)
        except FileNotFoundError:
            # mkstemp creates the file readable by its owner only; give it the permissions a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            previous_mode = 0o666 & ~umask
    else:
        handle, temporary = tempfile.mkstemp(prefix=f"specvae-output.{os.getpid()}.", suffix=".tmp")
        os.close(handle)
        temporary_path = Path(temporary)
    try:
        yield temporary_path
        if target.kind is OutputKind.REPLACE:
            # After writing, not before: a writer may replace the temporary file (safetensors does), and the new
            # one would keep its owner-only mode.
            os.chmod(temporary_path, previous_mode)
            with open(temporary_path, "rb") as written:
                os.fsync(written.fileno())
            os.replace(temporary_path, target.path)
        else:
            _copy_into(temporary_path, target)
    finally:
        temporary_path.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (or directly, for special files and ``-``)."""
    with atomic_output(path) as temporary:
        temporary.write_text(text, encoding=encoding)
