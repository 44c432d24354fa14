"""Output path checks shared by the ``specvae`` and ``mmcore`` commands: usage errors (exit 2) before any work.

The checks themselves are library functions (:mod:`mmcore.output_paths`); this only turns their error into
click's usage error, so that every command refuses a bad output path the same way and with the same exit code.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import click

from mmcore.output_paths import OutputPathError, check_distinct_paths, check_writable, check_writable_directory

PathLike = str | os.PathLike[str]


def check_output_paths(
    inputs: Mapping[str, PathLike | Iterable[PathLike] | None],
    outputs: Mapping[str, PathLike | None],
    *,
    caches: Mapping[str, PathLike | None] | None = None,
    directories: Mapping[str, PathLike | None] | None = None,
) -> None:
    """Refuse, as a usage error, output paths that are inputs, that collide, or that cannot be written.

    ``inputs`` values may be lists (several spectrum files, several models); each is labelled by its option.
    ``outputs`` are files the command writes (checked for writability); ``caches`` are read and written, so they
    must differ from every input and output but may be read-only; ``directories`` are output folders.
    """
    flat_inputs: dict[str, PathLike | None] = {}
    for label, value in inputs.items():
        if value is None or isinstance(value, (str, os.PathLike)):
            flat_inputs[label] = value
        else:
            for index, path in enumerate(value):
                flat_inputs[label if index == 0 else f"{label} (#{index + 1})"] = path
    try:
        check_distinct_paths(flat_inputs, {**outputs, **(caches or {})})
        check_distinct_paths({}, {**outputs, **(directories or {})})
        for label, path in outputs.items():
            check_writable(label, path)
        for label, path in (directories or {}).items():
            check_writable_directory(label, path)
    except OutputPathError as error:
        raise click.UsageError(str(error)) from None
