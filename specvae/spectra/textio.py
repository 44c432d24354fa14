"""Open spectrum and candidate files as text, gzip or not, without letting odd bytes stop a read.

Compression is recognised by the gzip magic bytes, not the file name, so ``spectra.mgf`` that is really
gzip (or ``candidates.csv.gz`` that is not) still reads. Undecodable bytes become U+FFFD instead of
raising: one bad byte in one record must not lose the rest of the file; the record that holds it then
fails its own checks (a peak line with a replacement character is not a number).

The encoding is UTF-8 unless the (decompressed) file starts with a byte-order mark: UTF-8 (the mark is
dropped, so ``\ufeffBEGIN IONS`` is still ``BEGIN IONS``), UTF-16 or UTF-32, either byte order. Why: a
file saved as "Unicode" by Windows tools is UTF-16 with a mark; read as UTF-8 every other byte is NUL and
every record was lost (an MGF gave hundreds of "text outside BEGIN IONS" errors and no spectrum). UTF-16
or UTF-32 *without* a mark (NUL bytes in every second or fourth position of the first kilobytes) is
refused with :class:`InputFileError` once, with the reason, instead of being read as garbage record by
record: guessing its byte order could read valid-looking nonsense.
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import zlib
from pathlib import Path
from typing import TextIO

from specvae.errors import InputFileError

_GZIP_MAGIC = b"\x1f\x8b"
_COMPRESSION_SUFFIXES = (".gz", ".gzip")
_BYTE_ORDER_MARKS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SNIFF_BYTES = 4096


def is_gzip(path: str | os.PathLike[str]) -> bool:
    """Whether the file starts with the gzip magic bytes."""
    with open(path, "rb") as stream:
        return stream.read(2) == _GZIP_MAGIC


def detect_encoding(head: bytes) -> str | None:
    """The text encoding a file's first bytes declare by a byte-order mark (``"utf-8-sig"``, ``"utf-16"``,
    ``"utf-32"``), or ``None`` when there is no mark (read as UTF-8)."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return encoding
    return None


def unmarked_wide_encoding(head: bytes) -> str | None:
    """``"UTF-16"`` or ``"UTF-32"`` when unmarked bytes look like that encoding (ASCII text with a NUL byte
    in every second or fourth position), else ``None``. Text files never hold NUL bytes that regularly."""
    sample = head[: len(head) - len(head) % 4]
    # At least 40% NUL bytes, not 50%: characters beyond Latin-1 have no NUL byte in UTF-16, and a file with a
    # few of them (one line in 200) was read as UTF-8 garbage. The per-lane test below is the real check.
    if len(sample) < 8 or sample.count(0) < 0.4 * len(sample):
        return None
    for width, name in ((4, "UTF-32"), (2, "UTF-16")):
        lanes = [sample[offset::width] for offset in range(width)]
        nul_lanes = sum(lane.count(0) >= 0.75 * len(lane) for lane in lanes)
        if nul_lanes == width - 1:
            return name
    return None


def open_text(path: str | os.PathLike[str]) -> TextIO:
    """Open ``path`` for reading text (gunzipped when gzip), or raise :class:`InputFileError`.

    UTF-8 unless a byte-order mark says UTF-8, UTF-16 or UTF-32 (see the module docstring); unmarked
    UTF-16/UTF-32 is refused with :class:`InputFileError` naming the file and the reason.
    """
    path = Path(path)
    try:
        binary: io.BufferedIOBase = gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # noqa: SIM115
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a directory, not a file") from None
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except OSError as error:
        raise InputFileError(f"{path}: cannot open ({error})") from None
    buffered = binary if isinstance(binary, io.BufferedReader) else io.BufferedReader(binary)
    try:
        head = buffered.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]
    except (OSError, EOFError, zlib.error):
        head = b""  # a broken gzip stream: the reader reports it where the break is
    encoding = detect_encoding(head)
    if encoding is None and (wide := unmarked_wide_encoding(head)):
        buffered.close()
        raise InputFileError(
            f"{path}: looks like {wide} text without a byte-order mark (NUL bytes between the characters); "
            "save it as UTF-8, or as UTF-16/UTF-32 with a byte-order mark"
        )
    return io.TextIOWrapper(buffered, encoding=encoding or "utf-8", errors="replace", newline="")


def format_suffix(path: str | os.PathLike[str]) -> str:
    """The format suffix of a file name, lower-case, ignoring a compression suffix: ``a.MGF.gz`` -> ``.mgf``."""
    name = Path(path).name.lower()
    for compression in _COMPRESSION_SUFFIXES:
        if name.endswith(compression):
            name = name[: -len(compression)]
            break
    return Path(name).suffix
