"""Checks on output paths made before any work: an output must not be an input, and must be writable.

Why before: a run that annotates for an hour and then fails to write (a missing or read-only folder), or that
writes its results over the spectra it read, loses either the hour or the input. Both are cheap to see at the
start. Paths are compared as the files they name (symlinks resolved, same inode where the file exists), not as
text: ``./a.mgf``, ``a.mgf`` and a link to it are one file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from mmcore.atomic import STDOUT, OutputKind, output_target

PathLike = str | os.PathLike[str]


class OutputPathError(ValueError):
    """An output path that would destroy an input or another output, or that cannot be written."""


def _same_file(first: PathLike, second: PathLike) -> bool:
    first_text, second_text = os.fspath(first), os.fspath(second)
    if STDOUT in (first_text, second_text):
        return False
    try:
        return os.path.samefile(first_text, second_text)
    except OSError:  # one does not exist (yet): compare where the paths lead
        return os.path.realpath(first_text) == os.path.realpath(second_text)


def _is_replaced(path: PathLike) -> bool:
    """Whether writing ``path`` replaces a file (regular or new); special files and ``-`` are written in place."""
    try:
        return output_target(path).kind is OutputKind.REPLACE
    except OSError:
        return True


def check_distinct_paths(inputs: Mapping[str, PathLike | None], outputs: Mapping[str, PathLike | None]) -> None:
    """Refuse an output that is one of the inputs, or the same file as another output.

    ``inputs`` and ``outputs`` map a label the user recognises (``"SPECTRA"``, ``"--errors"``) to a path;
    ``None`` entries are skipped. Only files that writing would replace (regular or new ones) count: two
    outputs may share a special file (``-o /dev/null --errors /dev/null`` discards both), and reading
    ``/dev/stdin`` while writing ``/dev/stdout`` on one terminal destroys nothing.

    >>> check_distinct_paths({"SPECTRA": "a.mgf"}, {"--output": "./a.mgf"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mmcore.output_paths.OutputPathError: --output ./a.mgf is the same file as SPECTRA a.mgf: ...
    """
    given_inputs = [(label, path) for label, path in inputs.items() if path is not None]
    given_outputs = [(label, path) for label, path in outputs.items() if path is not None]
    for index, (label, path) in enumerate(given_outputs):
        for input_label, input_path in given_inputs:
            if _same_file(path, input_path) and _is_replaced(path):
                raise OutputPathError(
                    f"{label} {os.fspath(path)} is the same file as {input_label} {os.fspath(input_path)}: "
                    "writing it would destroy the input; choose another output path"
                )
        for other_label, other_path in given_outputs[index + 1 :]:
            if _same_file(path, other_path) and _is_replaced(path):
                raise OutputPathError(
                    f"{label} and {other_label} are the same file ({os.fspath(path)}): one would overwrite the "
                    "other; choose two different paths"
                )


def check_writable(label: str, path: PathLike | None) -> None:
    """Refuse an output path that cannot be written, naming the option and the reason.

    Fine: ``-``; a writable special file; a writable regular file in a folder where a temporary sibling can be
    made; a new file whose nearest existing ancestor is a writable folder (missing folders are created).
    """
    if path is None or os.fspath(path) == STDOUT:
        return
    text = os.fspath(path)
    try:
        target = output_target(path)
    except IsADirectoryError:
        raise OutputPathError(f"{label} {text}: is a directory, expected a file path") from None
    if target.kind is OutputKind.DIRECT:
        if not os.access(target.path, os.W_OK):
            raise OutputPathError(f"{label} {text}: no permission to write this file")
        return
    if target.path.exists() and not os.access(target.path, os.W_OK):
        raise OutputPathError(f"{label} {text}: the file is read-only")
    _check_folder(label, text, target.path.parent)


def check_writable_directory(label: str, path: PathLike | None) -> None:
    """Refuse an output folder that is a file, or that cannot be created or written."""
    if path is None:
        return
    text = os.fspath(path)
    folder = Path(os.path.realpath(text))
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"{label} {text}: exists and is not a folder")
    _check_folder(label, text, folder)


def _check_folder(label: str, text: str, folder: Path) -> None:
    """The folder must exist and be writable, or be creatable under its nearest existing ancestor."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not stat.S_ISDIR(existing.stat().st_mode):
        raise OutputPathError(f"{label} {text}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "the folder" if existing == folder else "cannot create the folder: its parent"
        raise OutputPathError(f"{label} {text}: {where} {existing} is not writable")
