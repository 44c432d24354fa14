"""Opening text files: gzip by magic bytes, encoding by byte-order mark (specvae/spectra/textio.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from specvae.errors import InputFileError
from specvae.spectra.textio import open_text, unmarked_wide_encoding

TEXT = "BEGIN IONS\nTITLE=é\n100 1\nEND IONS\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32", "utf-32-be"])
@pytest.mark.parametrize("compressed", [False, True])
def test_byte_order_marks_are_decoded_and_dropped(tmp_path: Path, encoding: str, compressed: bool) -> None:
    data = TEXT.encode(encoding)
    if encoding.endswith("-be"):  # Python writes no mark for an explicit byte order: add it as tools do
        data = "\ufeff".encode(encoding) + data
    if compressed:
        data = gzip.compress(data)
    path = tmp_path / "a.mgf"
    path.write_bytes(data)
    with open_text(path) as stream:
        assert stream.read() == TEXT


@pytest.mark.parametrize(
    ("encoding", "name"), [("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32-le", "UTF-32")]
)
def test_unmarked_wide_text_is_refused_with_the_reason(tmp_path: Path, encoding: str, name: str) -> None:
    path = tmp_path / "a.mgf"
    path.write_bytes(TEXT.encode(encoding))
    with pytest.raises(InputFileError, match=f"a.mgf: looks like {name} text without a byte-order mark"):
        open_text(path)


@pytest.mark.parametrize("data", [b"", b"\x00" * 64, TEXT.encode(), bytes(range(256))])
def test_other_bytes_are_not_taken_for_unmarked_utf16(data: bytes) -> None:
    assert unmarked_wide_encoding(data) is None
