"""CASMI 2017: the automatic-ranking challenges 046-243 of the official release, read from a user's directory.

No copy of the data is held here (``data_manifests/casmi2017.json`` names the official files and has no checksums),
so the loader reads the release as the organisers published it, after unpacking the archives into one folder
(``DIR/casmi2017/`` or ``DIR``), and finds its files by name pattern, case-insensitively, in any subfolder:

- solutions: ``CASMI-solutions.csv`` (columns ``Challenge`` = ``challenge-NNN`` and ``SMILES``, which may end in a
  tab; an ``InChIKey`` column is used when present, otherwise the key is computed from the SMILES with RDKit; a
  leading index column is allowed);
- spectra: ``challenge-NNN-msms.txt`` (the TSV archive of challenges 046-243: one ``m/z <tab> intensity`` peak
  per line) or ``challenge-NNN-msms.mgf``;
- ion mode and precursor m/z per challenge: a table whose file name contains ``summary`` with a challenge column
  (``challengename``, ``challenge``, ``name``; ``MS_files`` / ``MSMS_files`` file names also identify it), an ion mode
  column (``ESI Mode``, ``ion_mode``, ``ionmode``, ``mode``, ``polarity``: Pos/Neg, positive/negative, +/-) and a
  precursor column (``precursor_mz``, ``precursormz``, ``PEPMASS``, ``mz``); values stated in an MGF spectrum
  take precedence;
- candidates: one file per challenge whose name contains ``challenge-NNN`` and ``candidates`` (CSV, TSV or SDF,
  optionally gzip), read in per-challenge mode.

A challenge is loaded when it is in the requested number range (046-243 by default: Categories 2-4, the automatic
methods) and has a solution; one without a spectrum, a precursor or candidates is kept and reported as a problem.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from mmcore.data.manifest import sha256_of
from specvae.benchmark.candidate_table import read_candidate_list
from specvae.benchmark.challenges import BenchmarkData, BenchmarkDataError, CandidateList, Challenge
from specvae.benchmark.data_files import benchmark_directory
from specvae.candidates.candidate import candidate_from_fields
from specvae.candidates.reading import read_candidates
from specvae.errors import ErrorReport, InvalidStructureError, RecordParseError, SpectrumRejectedError
from specvae.spectra.filters import clean_spectrum
from specvae.spectra.records import build_spectrum
from specvae.spectra.textio import format_suffix, open_text

NAME = "casmi2017"
SOLUTION_FILE = "CASMI-solutions.csv"
FIRST_AUTOMATIC_CHALLENGE = 46
LAST_CHALLENGE = 243
DESCRIPTION = (
    "CASMI 2017 Categories 2-4 (automatic methods): challenges 046-243 of the official release, ranked against "
    "the official per-challenge candidate lists"
)

_CHALLENGE = re.compile(r"challenge-(\d{3})", re.IGNORECASE)
_MODES = {"pos": "positive", "positive": "positive", "+": "positive", "neg": "negative", "negative": "negative"}
_MODES["-"] = "negative"


def challenge_name(number: int) -> str:
    """The release's name of challenge ``number``: ``challenge-046``."""
    return f"challenge-{number:03d}"


def _normalise(name: str) -> str:
    return "".join(character for character in name.strip().lower() if character.isalnum())


def _column(header: list[str], *aliases: str) -> int | None:
    normalised = [_normalise(name) for name in header]
    for alias in aliases:
        if alias in normalised:
            return normalised.index(alias)
    return None


def _read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    with open_text(path) as stream:
        text = stream.read()
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    rows = [row for row in csv.reader(text.splitlines(), delimiter=delimiter) if any(cell.strip() for cell in row)]
    if not rows:
        raise BenchmarkDataError(f"{path}: empty table")
    return rows[0], rows[1:]


def _cell(row: list[str], at: int | None) -> str:
    return row[at].strip() if at is not None and at < len(row) else ""


def read_casmi2017_solutions(path: Path, errors: ErrorReport) -> dict[str, dict[str, str]]:
    """``{challenge-NNN: {"inchikey", "smiles"}}``; rows whose structure cannot be read go to ``errors``."""
    header, rows = _read_table(path)
    challenge_at = _column(header, "challenge", "challengename")
    smiles_at = _column(header, "smiles")
    key_at = _column(header, "inchikey")
    if challenge_at is None or (smiles_at is None and key_at is None):
        raise BenchmarkDataError(f"{path}: solutions need a Challenge column and a SMILES or InChIKey column")
    solutions = {}
    for line, row in enumerate(rows, start=2):
        match = _CHALLENGE.search(_cell(row, challenge_at))
        if not match:
            errors.add(str(path), f"line {line}", f"no challenge name in {_cell(row, challenge_at)!r}")
            continue
        smiles, key = _cell(row, smiles_at), _cell(row, key_at).upper()
        if not re.fullmatch(r"[A-Z]{14}-[A-Z]{10}-[A-Z]", key):
            try:
                key = candidate_from_fields(smiles=smiles, parse=True).inchikey
            except InvalidStructureError as error:
                errors.add(str(path), f"line {line}", f"answer structure: {error}", match.group(0))
                continue
        solutions[challenge_name(int(match.group(1)))] = {"inchikey": key, "smiles": smiles}
    return solutions


def _summaries(folder: Path, files: list[Path]) -> dict[str, dict[str, str]]:
    """Ion mode and precursor m/z per challenge from every summary table in the release."""
    found: dict[str, dict[str, str]] = {}
    for path in files:
        if "summary" not in path.name.lower() or format_suffix(path) not in (".csv", ".tsv", ".txt"):
            continue
        header, rows = _read_table(path)
        name_at = _column(header, "challengename", "challenge", "name", "msmsfiles", "msfiles")
        mode_at = _column(header, "esimode", "ionmode", "mode", "polarity")
        precursor_at = _column(header, "precursormz", "precursor", "pepmass", "mz")
        if name_at is None:
            continue
        for row in rows:
            match = _CHALLENGE.search(row[name_at]) if name_at < len(row) else None
            if not match:
                continue
            entry = found.setdefault(challenge_name(int(match.group(1))), {})
            if mode_at is not None and mode_at < len(row):
                mode = _MODES.get(row[mode_at].strip().lower())
                if mode:
                    entry["ion_mode"] = mode
            if precursor_at is not None and precursor_at < len(row) and row[precursor_at].strip():
                entry["precursor_mz"] = row[precursor_at].strip()
    return found


def _peak_list(path: Path) -> tuple[list[float], list[float]]:
    """``m/z intensity`` pairs of a peak-list text file (tab, space or comma separated; other lines skipped)."""
    mz, intensities = [], []
    with open_text(path) as stream:
        for line in stream:
            fields = re.split(r"[\t ,;]+", line.strip())
            if len(fields) < 2:
                continue
            try:
                mz_value, intensity = float(fields[0]), float(fields[1])
            except ValueError:
                continue
            mz.append(mz_value)
            intensities.append(intensity)
    if not mz:
        raise RecordParseError(f"{path}: no 'm/z intensity' line")
    return mz, intensities


def _spectrum(path: Path, name: str, summary: dict[str, str]):
    """The cleaned spectrum of one challenge file (MGF or peak list), with the summary's mode and precursor."""
    metadata: dict[str, object] = {"title": name}
    if "ion_mode" in summary:
        metadata["ionmode"] = summary["ion_mode"]
        metadata["charge"] = 1 if summary["ion_mode"] == "positive" else -1
    if "precursor_mz" in summary:
        metadata["precursor_mz"] = float(summary["precursor_mz"])
    if format_suffix(path) == ".mgf":
        from specvae.spectra.mgf import iter_mgf

        record = next(iter(iter_mgf(path)), None)
        if record is None or record.spectrum is None:
            raise RecordParseError(f"{path}: {record.error if record else 'no spectrum'}")
        stated = record.spectrum
        metadata.update({key: value for key, value in stated.metadata.items() if value not in (None, "")})
        metadata["title"] = name
        return clean_spectrum(build_spectrum(stated.peaks.mz, stated.peaks.intensities, metadata))
    mz, intensities = _peak_list(path)
    return clean_spectrum(build_spectrum(mz, intensities, metadata))


def _candidate_list(path: Path, errors: ErrorReport) -> tuple[CandidateList, int]:
    if format_suffix(path) in (".csv", ".tsv"):
        return read_candidate_list(path, errors)
    entries = read_candidates(path, errors)
    rows = []
    for entry in entries:
        candidate = entry.candidate
        rows.append((candidate.identifier, candidate.inchikey, candidate.smiles or "", candidate.inchi or ""))
    return CandidateList.from_rows(rows)


def load_casmi2017(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    verify: bool = True,
    first_challenge: int = FIRST_AUTOMATIC_CHALLENGE,
    last_challenge: int = LAST_CHALLENGE,
) -> BenchmarkData:
    """Read the CASMI 2017 release from ``data_dir`` (or ``$SPECVAE_DATA_DIR``) in the layout described above.

    The manifest holds no checksums for this release, so the files cannot be verified (``verify`` is accepted for
    a uniform interface); their sha256 are computed and reported, and the report says they were not verified.
    """
    del verify
    folder = benchmark_directory(data_dir, NAME, SOLUTION_FILE)
    problems = ErrorReport()
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    solutions = read_casmi2017_solutions(folder / SOLUTION_FILE, problems)
    summaries = _summaries(folder, files)
    spectrum_files: dict[str, Path] = {}
    candidate_files: dict[str, Path] = {}
    for path in files:
        match = _CHALLENGE.search(path.name)
        if not match:
            continue
        name = challenge_name(int(match.group(1)))
        lowered = path.name.lower()
        if "candidates" in lowered:
            candidate_files.setdefault(name, path)
        elif "-msms" in lowered and format_suffix(path) in (".txt", ".tsv", ".mgf"):
            spectrum_files.setdefault(name, path)

    challenges: list[Challenge] = []
    used: set[Path] = {folder / SOLUTION_FILE}
    dropped_total = 0
    for number in range(first_challenge, last_challenge + 1):
        name = challenge_name(number)
        if name not in solutions:
            if name in spectrum_files:
                problems.add(str(folder / SOLUTION_FILE), name, "no solution for this challenge: left out")
            continue
        summary = summaries.get(name, {})
        spectrum = None
        if name in spectrum_files:
            used.add(spectrum_files[name])
            try:
                spectrum = _spectrum(spectrum_files[name], name, summary)
            except (RecordParseError, SpectrumRejectedError, ValueError) as error:
                problems.add(str(spectrum_files[name]), name, str(error))
        else:
            problems.add(str(folder), name, "no challenge-NNN-msms spectrum file")
        ion_mode = summary.get("ion_mode") or (spectrum.get("ionmode") if spectrum is not None else None)
        if ion_mode not in ("positive", "negative"):
            problems.add(str(folder), name, "no ion mode for this challenge in any summary table: left out")
            continue
        candidates, dropped = CandidateList((), (), (), ()), 0
        if name in candidate_files:
            used.add(candidate_files[name])
            candidates, dropped = _candidate_list(candidate_files[name], problems)
        else:
            problems.add(str(folder), name, "no candidate file for this challenge")
        dropped_total += dropped
        challenges.append(
            Challenge(
                name=name,
                ion_mode=ion_mode,
                spectrum=spectrum,
                candidates=candidates,
                answer_inchikey=solutions[name]["inchikey"],
                answer_smiles=solutions[name]["smiles"],
                category="1" if number < FIRST_AUTOMATIC_CHALLENGE else "2-4",
            )
        )
    if not challenges:
        raise BenchmarkDataError(f"{folder}: no challenge {first_challenge:03d}-{last_challenge:03d} with a solution")
    used.update(path for path in files if "summary" in path.name.lower())
    checksums = {str(path.relative_to(folder)): sha256_of(path) for path in sorted(used)}
    return BenchmarkData(
        name=NAME,
        description=DESCRIPTION,
        directory=folder,
        challenges=challenges,
        files=checksums,
        verified=False,
        verification=(
            "not verified: data_manifests/casmi2017.json holds no checksums for the release (sha256 computed here)"
        ),
        problems=problems,
        duplicate_candidates_dropped=dropped_total,
    )
