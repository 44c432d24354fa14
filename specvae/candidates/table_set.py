"""A candidate table read as a :class:`CandidateSet` whose per-spectrum lists are built when first queried.

Why: a per-spectrum table holds the lists of many spectra, and a run usually asks for a few (10 spectra against a
69,120-row table). Reading checks every row's layout and notes its spectrum id, InChIKey and structure text (a
split line, a few microseconds); a list's candidates are built, its rows without an InChIKey parsed and its
repeated InChIKeys collapsed when a spectrum asks for it. Problems of a list's rows are found then and handed over
by :meth:`~specvae.candidates.CandidateSet.take_problems` (the pipeline's planning stage reports them).

The check that a row's structure is the one its InChIKey names when rows disagree
(:func:`~specvae.candidates.candidate_set.reject_disagreeing_keys`) still sees the whole file: a key that two rows
anywhere in the file give with different structure texts is contested, and its rows are checked (with RDKit) when
their list is built; so are keys contested within a list once its rows without an InChIKey have theirs.

A table without a spectrum-id column is a pool, read at once: every candidate's mass is needed to index it. Its rows
without an InChIKey are not parsed: their mass is read off the SMILES, their key worked out when a spectrum's mass
window holds them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from tqdm import tqdm

from specvae.candidates.candidate import INCHIKEY_PATTERN, Candidate, stated_mass
from specvae.candidates.candidate_set import (
    BuiltList,
    CandidateSet,
    DeferredList,
    _key_disagreement,
    _structure_text,
    collapse_duplicates,
)
from specvae.candidates.table import TableRows, entry_of_row
from specvae.errors import ErrorReport, InvalidStructureError, RecordError
from specvae.spectra.textio import open_text

EMPTY_REASON = "empty candidate list: the file holds no usable candidate"


def read_table_candidate_set(
    path: str | os.PathLike[str],
    errors: ErrorReport,
    *,
    spectrum_id_column: str | None = None,
    progress: bool | None = None,
) -> CandidateSet:
    """The candidates of a CSV/TSV table (see :mod:`specvae.candidates.table` for the columns and the layout
    rules): per-spectrum lists built on first use, or a pool. Problems go to ``errors``; raises
    :class:`~specvae.errors.InputFileError` as :func:`~specvae.candidates.read_candidate_table` does."""
    source = str(path)
    with open_text(path) as stream:
        table = TableRows(stream, source, errors, spectrum_id_column)
        columns = table.columns
        if "spectrum_id" not in columns:
            return _pool(table, errors, progress)
        rows_by_spectrum, contested = _rows_by_spectrum(table, errors, progress)
    verdicts: dict[tuple[str, tuple[str | None, str | None]], str | None] = {}
    lists = {
        spectrum_id: _deferred_list(source, rows, columns, contested, verdicts)
        for spectrum_id, rows in rows_by_spectrum.items()
    }
    if not lists:
        errors.add(source, "file", EMPTY_REASON)
    return CandidateSet(lists=lists)


def _pool(table: TableRows, errors: ErrorReport, progress: bool | None) -> CandidateSet:
    """The table as one pool, indexed by mass in one pass: a row without an InChIKey gets its mass from its SMILES
    read without sanitising (a twentieth of a full parse) and its key only when a spectrum's mass window holds it
    (:func:`specvae.pipeline.planning.settle_keys`); a row whose SMILES does not even read is reported now."""
    source, columns = table.source, table.columns
    entries = []
    rows = tqdm(table, desc="indexing candidates by mass", unit=" rows", disable=_quiet(progress), mininterval=2)
    for record, row in rows:
        entry = entry_of_row(source, record, row, columns, errors, defer_key=True)
        if entry is None:
            continue
        try:
            entry.candidate.fill_formula_and_mass()
        except InvalidStructureError as error:
            title = _cell(row, columns.get("identifier")) or _cell(row, columns.get("name")) or None
            errors.add(source, record, str(error), title)
            continue
        entries.append(entry)
    candidate_set = CandidateSet.pool(entries)
    candidate_set.source = source
    for entry, reason in candidate_set.rejected:
        errors.append(RecordError(source, entry.record, reason, entry.candidate.name))
    if not entries:
        errors.add(source, "file", EMPTY_REASON)
    return candidate_set


def _quiet(progress: bool | None) -> bool | None:
    """tqdm's ``disable``: None shows the bar only on a terminal."""
    return None if progress is None else not progress


def _rows_by_spectrum(
    table: TableRows, errors: ErrorReport, progress: bool | None = None
) -> tuple[dict[str, list[tuple[int, list[str]]]], set[str]]:
    """The rows of each spectrum id in file order, and the InChIKeys the file gives with two structure texts.

    Written for speed (a few microseconds a row): the fields are read inline, and a key's structure text is kept
    only as the first one seen, a second one marking the key contested. A large table takes seconds (CASMI
    2016's 258,808 rows: about 2.5 s), hence the bar (``progress``: None shows it on a terminal).
    """
    columns = table.columns
    spectrum_at = columns["spectrum_id"]
    key_at, smiles_at, inchi_at = columns.get("inchikey"), columns.get("smiles"), columns.get("inchi")
    rows_by_spectrum: dict[str, list[tuple[int, list[str]]]] = {}
    first_text: dict[str, tuple[str, str]] = {}
    contested: set[str] = set()
    rows = tqdm(table, desc="reading candidates", unit=" rows", disable=_quiet(progress), mininterval=2)
    for record, row in rows:
        width = len(row)
        spectrum_id = row[spectrum_at].strip() if spectrum_at < width else ""
        if not spectrum_id:
            title = _cell(row, columns.get("identifier")) or _cell(row, columns.get("name")) or None
            errors.add(table.source, record, "no spectrum id in the spectrum-id column", title)
            continue
        rows = rows_by_spectrum.get(spectrum_id)
        if rows is None:
            rows = rows_by_spectrum[spectrum_id] = []
        rows.append((record, row))
        if key_at is None or key_at >= width:
            continue
        key = row[key_at].strip().upper()
        if not key:
            continue
        text = (
            row[smiles_at].strip() if smiles_at is not None and smiles_at < width else "",
            row[inchi_at].strip() if inchi_at is not None and inchi_at < width else "",
        )
        seen = first_text.setdefault(key, text)
        if seen != text:
            contested.add(key)
    return rows_by_spectrum, contested


def _cell(row: list[str], at: int | None) -> str:
    return row[at].strip() if at is not None and at < len(row) else ""


def _deferred_list(
    source: str,
    rows: Sequence[tuple[int, list[str]]],
    columns: dict[str, int],
    contested: set[str],
    verdicts: dict[tuple[str, tuple[str | None, str | None]], str | None],
) -> DeferredList:
    def build() -> BuiltList:
        problems = ErrorReport()
        entries = _candidates_of_rows(source, rows, columns, problems)
        first: dict[str, Candidate] = {}
        checked = set()  # the keys this list gives with two structure texts, and those the file does
        for _, candidate in entries:
            key = candidate.inchikey
            seen = first.setdefault(key, candidate)
            if key in contested or (seen is not candidate and _structure_text(seen) != _structure_text(candidate)):
                checked.add(key)
        if not checked:
            return (*collapse_duplicates(candidate for _, candidate in entries), list(problems))
        kept = []
        for record, candidate in entries:
            if candidate.inchikey in checked:
                verdict_key = (candidate.inchikey, _structure_text(candidate))
                if verdict_key not in verdicts:
                    verdicts[verdict_key] = _key_disagreement(candidate)
                if verdicts[verdict_key] is not None:
                    problems.append(RecordError(source, record, verdicts[verdict_key], candidate.name))
                    continue
            kept.append(candidate)
        return (*collapse_duplicates(kept), list(problems))

    return DeferredList(build)


def _candidates_of_rows(
    source: str, rows: Sequence[tuple[int, list[str]]], columns: dict[str, int], errors: ErrorReport
) -> list[tuple[int, Candidate]]:
    """``(record, candidate)`` of each usable row. A row that states a well-formed InChIKey and a structure is
    built directly (nothing to check or parse: the common case, a few microseconds, the fields read inline); any
    other row goes through :func:`~specvae.candidates.table.entry_of_row`, which parses it or reports why it cannot
    be used."""
    at = [columns.get(name, -1) for name in ("inchikey", "smiles", "inchi", "identifier", "name")]
    at += [columns.get(name, -1) for name in ("molecular_formula", "monoisotopic_mass")]
    key_at, smiles_at, inchi_at, identifier_at, name_at, formula_at, mass_at = at
    needed = max(at) + 1
    match = INCHIKEY_PATTERN.match
    found = []
    for record, row in rows:
        if len(row) < needed:
            row = row + [""] * (needed - len(row))  # a short row: its missing fields are empty
        key = row[key_at].strip().upper() if key_at >= 0 else ""
        smiles = row[smiles_at].strip() if smiles_at >= 0 else ""
        inchi = row[inchi_at].strip() if inchi_at >= 0 else ""
        if (smiles or inchi) and match(key):
            candidate = Candidate(
                (row[identifier_at].strip() if identifier_at >= 0 else "") or key,
                (row[name_at].strip() if name_at >= 0 else "") or None,
                smiles or None,
                key,
                (row[formula_at].strip() if formula_at >= 0 else "") or None,
                stated_mass(row[mass_at]) if mass_at >= 0 else None,
                inchi or None,
            )
            found.append((record, candidate))
            continue
        entry = entry_of_row(source, record, row, columns, errors)
        if entry is not None:
            found.append((record, entry.candidate))
    return found
