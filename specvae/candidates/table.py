"""Candidate tables: CSV or TSV (optionally gzip) with a SMILES or InChI column.

Column names are matched case-insensitively, ignoring spaces, ``_`` and ``-``:

=============== ====================================================================
field           accepted column names (the first one present wins)
=============== ====================================================================
SMILES          smiles, isomericsmiles, canonicalsmiles, connectivitysmiles
InChI           inchi
identifier      identifier, id, compound_id, cid, pubchem_compound_cid, and database ids
                (chebi_id, hmdb_id, drugbank_id, lm_id, coconut_id, zinc_id, database_id)
name            name, compoundname, title, iupacname
InChIKey        inchikey
formula         molecularformula, formula
mass            monoisotopicmass, exactmass
spectrum id     spectrumid, challenge, challengename, featureid, scan (or the ``spectrum_id_column`` given)
=============== ====================================================================

PubChem's downloads (``CID,Title,SMILES,InChIKey``, or ``IsomericSMILES``/``CanonicalSMILES``) read as a
pool. A file with a spectrum-id column gives per-spectrum candidate lists (the CASMI layout:
``challenge,Identifier,CompoundName,MonoisotopicMass,MolecularFormula,SMILES,InChI,InChIKey``); without
one, a pool for all spectra. Why only these names start the per-spectrum mode: a generic column such as
PubChem's ``Title`` (a compound name) taken for spectrum ids matched no spectrum and annotated none, without a
word. :func:`describe_table_columns` says which columns a file's candidates are read from.
The delimiter is a tab when the header line holds more tabs than commas.

Every line after the header is accounted for: parsed into a candidate, skipped as blank, or reported. A
row is one physical line, and the record number of a row is its line number minus one (the header is
line 1); problems with the row's layout name the line. Why not the ``csv`` module's multi-line quoting: a
single stray quote (``"CCO`` for ``CCO``) opened a quoted field that swallowed every later line (5 of 10
rows lost with exit code 0, or one misleading "no SMILES" error for 7 rows). SMILES, InChI, InChIKeys,
names and identifiers never hold a line break, so in a candidate table a quoted field that spans lines is
damage, not data. So:

- a line whose quoted field is not closed on that line is reported ("stray quote?") and the next line is
  read as a row of its own; the following line, when it closes that quote (it holds an odd number of
  quote characters), is reported as its continuation instead of being read as a row;
- a malformed quoted field (``"CC"O``) is reported with the ``csv`` module's reason;
- a row with more non-empty fields than the header is reported: two rows merged by a lost line break
  would otherwise give one candidate and ignore the other (empty extra fields, from a trailing delimiter
  on every row, are allowed); fewer fields than the header are allowed (the missing ones are empty).
"""

from __future__ import annotations

import csv
import os
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence

from specvae.candidates.candidate import CandidateEntry, candidate_from_fields
from specvae.errors import ErrorReport, InputFileError, InvalidStructureError
from specvae.spectra.textio import open_text

_COLUMN_ALIASES = {
    "smiles": ("smiles", "isomericsmiles", "canonicalsmiles", "connectivitysmiles"),
    "inchi": ("inchi",),
    "identifier": (
        "identifier",
        "id",
        "compoundid",
        "cid",
        "pubchemcid",
        "pubchemcompoundcid",
        "chebiid",
        "hmdbid",
        "drugbankid",
        "lmid",
        "coconutid",
        "zincid",
        "databaseid",
    ),
    "name": ("name", "compoundname", "title", "iupacname", "pubchemiupacname"),
    "inchikey": ("inchikey", "pubchemiupacinchikey"),
    "molecular_formula": ("molecularformula", "formula", "pubchemmolecularformula"),
    "monoisotopic_mass": ("monoisotopicmass", "exactmass", "pubchemmonoisotopicweight"),
    "spectrum_id": ("spectrumid", "challenge", "challengename", "featureid", "scan"),
}


def _normalise_column(name: str) -> str:
    return "".join(character for character in name.strip().lower() if character.isalnum())


def find_columns(header: list[str], spectrum_id_column: str | None = None) -> dict[str, int]:
    """Map each known field to its column index (first matching alias wins).

    ``spectrum_id_column`` names the spectrum-id column explicitly (compared as the aliases are); raises
    :class:`InputFileError` when the header lacks it.
    """
    normalised = [_normalise_column(name) for name in header]
    columns: dict[str, int] = {}
    for field_name, aliases in _COLUMN_ALIASES.items():
        if field_name == "spectrum_id" and spectrum_id_column is not None:
            wanted = _normalise_column(spectrum_id_column)
            if wanted not in normalised:
                raise InputFileError(f"no column {spectrum_id_column!r} (the spectrum-id column) in {header[:12]}")
            columns[field_name] = normalised.index(wanted)
            continue
        for alias in aliases:
            if alias in normalised:
                columns[field_name] = normalised.index(alias)
                break
    return columns


def describe_columns(header: list[str], columns: dict[str, int]) -> str:
    """One line saying which column each field is read from, and whether the lists are per spectrum."""
    used = ", ".join(f"{field_name} from {header[index]!r}" for field_name, index in columns.items())
    mode = (
        f"per-spectrum lists keyed by {header[columns['spectrum_id']]!r}"
        if "spectrum_id" in columns
        else "no spectrum-id column: one pool for all spectra, filtered by mass"
    )
    return f"{used}; {mode}"


def describe_table_columns(path: str | os.PathLike[str], spectrum_id_column: str | None = None) -> str:
    """Which columns of a candidate table :func:`read_candidate_table` reads (only the header is read), e.g.
    ``"identifier from 'CID', name from 'Title', smiles from 'SMILES', ...; no spectrum-id column: one pool"``."""
    with open_text(path) as stream:
        header, _ = _read_header(stream, str(path))
    return describe_columns(header, find_columns(header, spectrum_id_column))


def _read_header(stream, source: str) -> tuple[list[str], str]:
    """The header row's fields and the delimiter; raises :class:`InputFileError` for an empty or unreadable one."""
    header_line = stream.readline()
    if not header_line.strip():
        raise InputFileError(f"{source}: empty file, expected a header row")
    delimiter = "\t" if header_line.count("\t") > header_line.count(",") else ","
    try:
        return split_row(header_line, delimiter), delimiter
    except csv.Error as error:
        raise InputFileError(f"{source}: unreadable header row ({error})") from None


def read_candidate_table(
    path: str | os.PathLike[str],
    errors: ErrorReport | None = None,
    *,
    parse_structures: bool = False,
    spectrum_id_column: str | None = None,
) -> list[CandidateEntry]:
    """Candidates of a CSV/TSV file, one entry per good row; bad rows go to ``errors`` (see the module docstring).

    ``parse_structures`` forces RDKit to parse every SMILES now (to find invalid ones at once); by default a
    row that states its InChIKey is trusted and parsed only when its molecule is needed.
    ``spectrum_id_column`` names the column of per-spectrum lists when it is none of the known names.
    Raises :class:`InputFileError` when the file has no header, no SMILES/InChI column, or not the
    ``spectrum_id_column`` given.
    """
    source = str(path)
    entries: list[CandidateEntry] = []
    with open_text(path) as stream:
        table = TableRows(stream, source, errors, spectrum_id_column)
        for record, row in table:
            entry = entry_of_row(source, record, row, table.columns, errors, parse_structures)
            if entry is not None:
                entries.append(entry)
    return entries


class TableRows:
    """The rows of an open candidate table, each split into its fields, with the layout problems of the module
    docstring reported to ``errors`` (a row that is not read never reaches the caller). Iterating yields
    ``(record, fields)``; ``header`` and ``columns`` (:func:`find_columns`) describe the table.

    Raises :class:`InputFileError` when the file has no header, no SMILES/InChI column, or not the
    ``spectrum_id_column`` given. A damaged gzip stream ends the rows with one error for the file.
    """

    def __init__(self, stream, source: str, errors: ErrorReport | None, spectrum_id_column: str | None = None):
        self.stream = stream
        self.source = source
        self.errors = errors
        self.n_read = 0
        try:
            self.header, self.delimiter = _read_header(stream, source)
        except (OSError, EOFError, zlib.error) as error:  # a damaged gzip stream before the first row ends
            _report(errors, source, "file", f"file is corrupt after 0 candidates ({error})")
            self.header, self.delimiter, self.columns, self.damaged = [], ",", {}, True
            return
        self.damaged = False
        try:
            self.columns = find_columns(self.header, spectrum_id_column)
        except InputFileError as error:
            raise InputFileError(f"{source}: {error}") from None
        if "smiles" not in self.columns and "inchi" not in self.columns:
            raise InputFileError(f"{source}: no SMILES or InChI column in the header {self.header[:12]}")

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        if self.damaged:
            return
        header, n_fields = self.header, len(self.header)
        splitter = RowSplitter(self.delimiter)
        self._open_quote_line = None  # the line whose quoted field was left open, while the next line is read
        line_number = 1
        try:
            for lines in _line_blocks(self.stream, _LINES_PER_BLOCK):
                # A line after one that left a quote open is checked on its own, as is every line of a block
                # that cannot be split as a whole (a problem is then reported for its line).
                rows = None if self._open_quote_line is not None else splitter.split_block(lines)
                for position, line in enumerate(lines):
                    line_number += 1
                    row = rows[position] if rows is not None else self._split_line(splitter, line_number, line)
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue  # a blank line, or one reported
                    if len(row) > n_fields and any(field.strip() for field in row[n_fields:]):
                        _report(
                            self.errors,
                            self.source,
                            line_number - 1,
                            f"line {line_number}: {len(row)} fields but the header has {len(header)} "
                            "(two rows merged by a lost line break?); not read",
                            _row_title(row, self.columns),
                        )
                        continue
                    self.n_read += 1
                    yield line_number - 1, row
        except (OSError, EOFError, zlib.error) as error:
            _report(self.errors, self.source, "file", f"file is corrupt after {self.n_read} candidates ({error})")

    def _split_line(self, splitter: RowSplitter, line_number: int, line: str) -> list[str] | None:
        """The fields of one line read on its own, or None when it is not read (the problem is reported)."""
        record = line_number - 1
        quote_opened_before, self._open_quote_line = self._open_quote_line, None
        if quote_opened_before is not None and line.count('"') % 2 == 1:
            _report(
                self.errors,
                self.source,
                record,
                f"line {line_number}: continues the quoted field left open on line {quote_opened_before} "
                "(a field that spans lines); not read",
            )
            return None
        try:
            return splitter.split(line)
        except csv.Error as error:
            if line.count('"') % 2 == 1:
                self._open_quote_line = line_number
                reason = (
                    f"line {line_number}: a quoted field is not closed on this line (a stray quote, or a "
                    "field that spans lines, which a candidate table has no use for); not read"
                )
            else:
                reason = f"line {line_number}: unreadable {_FORMAT_NAMES[self.delimiter]} row ({error})"
            _report(self.errors, self.source, record, reason)
            return None


_LINES_PER_BLOCK = 1024


def _line_blocks(stream: Iterable[str], size: int) -> Iterator[list[str]]:
    """The lines of ``stream`` in lists of ``size``. When reading fails (a damaged gzip stream), the lines read
    before the failure come first, then the error: each line is handed on as it would be one at a time."""
    block: list[str] = []
    try:
        for line in stream:
            block.append(line)
            if len(block) == size:
                yield block
                block = []
    except Exception:
        if block:
            yield block
        raise
    if block:
        yield block


_FORMAT_NAMES = {",": "CSV", "\t": "TSV"}


class RowSplitter:
    """:func:`split_row` for the lines of one table, with one ``csv`` reader kept for the lines that hold quotes.

    Why: a CASMI-style table quotes every InChI (it holds commas), and building a ``csv`` reader for each of its
    258,808 lines costs about three microseconds a line more than feeding one reader line by line. The reader is
    built anew after a line it cannot read, so a damaged line never affects the next.
    """

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self._lines: deque[str] = deque()
        self._reader = self._new_reader()

    def _new_reader(self):
        lines = self._lines

        def source() -> Iterator[str]:
            while lines:
                yield lines.popleft()

        return csv.reader(source(), delimiter=self.delimiter, strict=True)

    def split_block(self, lines: list[str]) -> list[list[str]] | None:
        """The fields of each of ``lines``, or None when some line cannot be read on its own (a quoted field not
        closed on its line, a malformed one, anything ``csv`` refuses): those lines are then split one by one with
        :meth:`split`, so that each problem is reported for its line.

        Why: one ``csv`` reader over a block of lines splits them in C, about a microsecond a line faster than
        handing it the lines one by one. A reader given a list yields exactly one row per line (an empty one for
        a blank line) unless a quoted field spans lines, which leaves fewer rows than lines; so when the counts
        agree and nothing was refused, each row is what :meth:`split` gives for its line.
        """
        try:
            rows = list(csv.reader(lines, delimiter=self.delimiter, strict=True))
        except csv.Error:
            return None
        return rows if len(rows) == len(lines) else None

    def split(self, line: str) -> list[str]:
        """The fields of one line; raises :class:`csv.Error` as :func:`split_row` does."""
        if '"' not in line:
            return line.rstrip("\r\n").split(self.delimiter)
        self._lines.clear()
        self._lines.append(line)
        try:
            return next(self._reader, [])
        except csv.Error:
            self._reader = self._new_reader()
            raise
        finally:
            if self._lines:  # the line was not read to its end: start afresh
                self._lines.clear()
                self._reader = self._new_reader()


def split_row(line: str, delimiter: str) -> list[str]:
    """The fields of one line; raises :class:`csv.Error` for a quoted field not closed on the line or malformed.

    Lines without a quote character (nearly all) are split directly, which is what ``csv`` does with them.
    """
    if '"' not in line:
        return line.rstrip("\r\n").split(delimiter)
    return next(csv.reader([line], delimiter=delimiter, strict=True), [])


def read_candidate_rows(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    source: str = "<table>",
    errors: ErrorReport | None = None,
    *,
    spectrum_id_column: str | None = None,
    parse_structures: bool = False,
) -> list[CandidateEntry]:
    """Candidates of rows already in memory (a pandas DataFrame's ``columns`` and ``itertuples(index=False)``),
    with the columns matched as in a file; record ``N`` is the ``N``-th row. Empty and NaN cells are empty.

    Raises :class:`InputFileError` when the header has no SMILES/InChI column (or not ``spectrum_id_column``).
    """
    header = [str(name) for name in header]
    try:
        columns = find_columns(header, spectrum_id_column)
    except InputFileError as error:
        raise InputFileError(f"{source}: {error}") from None
    if "smiles" not in columns and "inchi" not in columns:
        raise InputFileError(f"{source}: no SMILES or InChI column in {header[:12]}")
    entries = []
    for record, row in enumerate(rows, start=1):
        entry = entry_of_row(source, record, [_cell_text(value) for value in row], columns, errors, parse_structures)
        if entry is not None:
            entries.append(entry)
    return entries


def _cell_text(value: object) -> str:
    """A cell as text: ``""`` for None/NaN/pandas NA, an integral float without ``.0`` (a CID column with a gap
    is read by pandas as floats)."""
    if value is None:
        return ""
    try:
        if value != value:  # NaN
            return ""
    except TypeError:  # pandas.NA refuses a truth value
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _row_title(row: list[str], columns: dict[str, int]) -> str | None:
    """The row's identifier or name, to name it in a report."""
    for name in ("identifier", "name"):
        index = columns.get(name)
        if index is not None and index < len(row) and row[index].strip():
            return row[index].strip()
    return None


def entry_of_row(
    source: str,
    record: int,
    row: list[str],
    columns: dict[str, int],
    errors: ErrorReport | None,
    parse_structures: bool = False,
    defer_key: bool = False,
) -> CandidateEntry | None:
    """The candidate of one split row (record ``record`` of ``source``), or None with the problem reported.
    ``defer_key``: a row without an InChIKey is not parsed now (see :func:`candidate_from_fields`)."""
    width = len(row)
    values = {name: row[index].strip() if index < width else "" for name, index in columns.items()}
    title = values.get("identifier") or values.get("name") or None
    spectrum_id = values.get("spectrum_id")
    if "spectrum_id" in columns and not spectrum_id:
        _report(errors, source, record, "no spectrum id in the spectrum-id column", title)
        return None
    try:
        candidate = candidate_from_fields(
            smiles=values.get("smiles"),
            inchi=values.get("inchi"),
            identifier=values.get("identifier") or None,
            name=values.get("name") or None,
            inchikey=values.get("inchikey"),
            molecular_formula=values.get("molecular_formula"),
            monoisotopic_mass=values.get("monoisotopic_mass"),
            parse=parse_structures,
            defer_key=defer_key,
            record=record,
        )
    except InvalidStructureError as error:
        _report(errors, source, record, str(error), title)
        return None
    return CandidateEntry(record, spectrum_id or None, candidate)


def _report(errors: ErrorReport | None, source: str, record: int | str, reason: str, title: str | None = None) -> None:
    if errors is not None:
        errors.add(source, record, reason, title)
