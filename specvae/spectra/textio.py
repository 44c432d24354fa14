"""Open spectrum and candidate files as text, gzip or not, without letting odd bytes stop a read.

Compression is recognised by the gzip magic bytes, not the file name, so ``spectra.mgf`` that is really
gzip (or ``candidates.csv.gz`` that is not) still reads. Undecodable bytes become U+FFFD instead of
raising: one bad byte in one record must not lose the rest of the file; the record that holds it then
fails its own checks (a peak line with a replacement character is not a number).
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import TextIO

from specvae.errors import InputFileError

_GZIP_MAGIC = b"\x1f\x8b"
_COMPRESSION_SUFFIXES = (".gz", ".gzip")


def is_gzip(path: str | os.PathLike[str]) -> bool:
    """Whether the file starts with the gzip magic bytes."""
    with open(path, "rb") as stream:
        return stream.read(2) == _GZIP_MAGIC


def open_text(path: str | os.PathLike[str]) -> TextIO:
    """Open ``path`` for reading text (UTF-8, gunzipped when gzip), or raise :class:`InputFileError`."""
    path = Path(path)
    try:
        if is_gzip(path):
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
        return open(path, encoding="utf-8", errors="replace", newline="")
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a directory, not a file") from None
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except OSError as error:
        raise InputFileError(f"{path}: cannot open ({error})") from None


def format_suffix(path: str | os.PathLike[str]) -> str:
    """The format suffix of a file name, lower-case, ignoring a compression suffix: ``a.MGF.gz`` -> ``.mgf``."""
    name = Path(path).name.lower()
    for compression in _COMPRESSION_SUFFIXES:
        if name.endswith(compression):
            name = name[: -len(compression)]
            break
    return Path(name).suffix
