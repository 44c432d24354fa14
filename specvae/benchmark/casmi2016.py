"""CASMI 2016 Categories 2 and 3: 208 challenges (001-081 negative, 082-208 positive) with official candidate lists.

Layout (``data_manifests/casmi2016.json`` lists each file with its sha256)::

    casmi2016/challenges_positive.mgf          127 spectra, TITLE = Challenge-082 .. Challenge-208
    casmi2016/challenges_negative_massbank.mgf  81 spectra, TITLE = Challenge-001 .. Challenge-081
    casmi2016/candidates.csv.gz                258,808 rows: challenge, Identifier, ..., SMILES, InChI, InChIKey
    casmi2016/solutions.csv                    ChallengeName, ION_MODE (with a leading space), NAME, SMILES, INCHIKEY

A challenge's candidates are the rows of its ``challenge`` value, repeated InChIKeys dropped (first kept: 571 rows).
"""

from __future__ import annotations

import csv
import os

from specvae.benchmark.candidate_table import read_grouped_candidates
from specvae.benchmark.challenges import ION_MODES, BenchmarkData, BenchmarkDataError, CandidateList, Challenge
from specvae.benchmark.data_files import benchmark_directory, checked_file
from specvae.errors import ErrorReport
from specvae.spectra.metadata import spectrum_identifiers, spectrum_ion_mode
from specvae.spectra.reading import iter_clean_records

NAME = "casmi2016"
SPECTRUM_FILES = ("challenges_positive.mgf", "challenges_negative_massbank.mgf")
CANDIDATE_FILE = "candidates.csv.gz"
SOLUTION_FILE = "solutions.csv"
DESCRIPTION = (
    "CASMI 2016 Categories 2 and 3 (automatic methods): 208 challenges, Challenge-001..081 negative mode, "
    "Challenge-082..208 positive mode, ranked against the official per-challenge candidate lists"
)


def read_casmi2016_solutions(path: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """``{challenge name: {"ion_mode", "inchikey", "smiles", "name"}}`` from ``solutions.csv``."""
    solutions: dict[str, dict[str, str]] = {}
    with open(path, encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        required = {"ChallengeName", "ION_MODE", "INCHIKEY"}
        missing = required - set(reader.fieldnames or ())
        if missing:
            raise BenchmarkDataError(f"{path}: solutions need the columns {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            name = row["ChallengeName"].strip()
            mode = row["ION_MODE"].strip().lower()  # the file writes " NEGATIVE" / " POSITIVE"
            if mode not in ION_MODES:
                raise BenchmarkDataError(f"{path}, line {line} ({name}): ion mode {row['ION_MODE']!r} is not known")
            inchikey = row["INCHIKEY"].strip().upper()
            if len(inchikey) < 14:
                raise BenchmarkDataError(f"{path}, line {line} ({name}): no InChIKey")
            solutions[name] = {
                "ion_mode": mode,
                "inchikey": inchikey,
                "smiles": (row.get("SMILES") or "").strip(),
                "name": (row.get("NAME") or "").strip(),
            }
    return solutions


def load_casmi2016(data_dir: str | os.PathLike[str] | None = None, *, verify: bool = True) -> BenchmarkData:
    """Read the CASMI 2016 benchmark from ``data_dir`` (or ``$SPECVAE_DATA_DIR``; see :mod:`.data_files`).

    ``verify`` checks every file's sha256 against ``data_manifests/casmi2016.json`` first. Spectra that cannot be
    read or cleaned, and candidate rows without a usable structure, go to the result's ``problems``; a challenge
    whose spectrum is missing keeps its place with ``spectrum=None``.
    """
    folder = benchmark_directory(data_dir, NAME, SOLUTION_FILE)
    checksums: dict[str, str] = {}
    problems = ErrorReport()
    paths = {
        name: checked_file(folder, name, NAME, verify, checksums)
        for name in (*SPECTRUM_FILES, CANDIDATE_FILE, SOLUTION_FILE)
    }
    solutions = read_casmi2016_solutions(paths[SOLUTION_FILE])

    spectra = {}
    positions: dict[str, int] = {}
    for file_name in SPECTRUM_FILES:
        for record in iter_clean_records(paths[file_name]):
            if record.spectrum is None:
                problems.append(record.to_record_error())
                continue
            names = [name for name in spectrum_identifiers(record.spectrum) if name in solutions]
            if not names:
                problems.add(str(paths[file_name]), record.record, "the spectrum names no challenge", record.title)
                continue
            spectra[names[0]] = record.spectrum
            positions.setdefault(names[0], len(positions))

    candidate_lists, dropped = read_grouped_candidates(paths[CANDIDATE_FILE], problems)
    unknown = sorted(set(candidate_lists) - set(solutions))
    if unknown:
        raise BenchmarkDataError(
            f"{paths[CANDIDATE_FILE]}: candidates for challenges without a solution: {unknown[:5]}"
        )

    challenges = []
    for name, solution in sorted(solutions.items()):
        spectrum = spectra.get(name)
        if spectrum is None:
            problems.add(str(folder), name, "no usable spectrum for this challenge: it is counted but not ranked")
        elif spectrum_ion_mode(spectrum) not in (None, solution["ion_mode"]):
            raise BenchmarkDataError(
                f"{name}: the spectrum says {spectrum_ion_mode(spectrum)} mode, the solutions {solution['ion_mode']}"
            )
        candidates = candidate_lists.get(name, CandidateList((), (), (), ()))
        if not len(candidates):
            problems.add(str(paths[CANDIDATE_FILE]), name, "no candidate for this challenge")
        challenges.append(
            Challenge(
                name=name,
                ion_mode=solution["ion_mode"],
                spectrum=spectrum,
                candidates=candidates,
                answer_inchikey=solution["inchikey"],
                answer_smiles=solution["smiles"],
                answer_name=solution["name"],
                category="2+3",
                spectrum_position=positions.get(name),
            )
        )
    return BenchmarkData(
        name=NAME,
        description=DESCRIPTION,
        directory=folder,
        challenges=challenges,
        files=checksums,
        verified=verify,
        verification=(
            "verified against data_manifests/casmi2016.json"
            if verify
            else "NOT verified against the manifest (--no-verify)"
        ),
        problems=problems,
        duplicate_candidates_dropped=dropped,
    )
