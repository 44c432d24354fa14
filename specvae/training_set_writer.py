"""``specvae prepare``: spectrum files with structures -> one HDF5 training set (read by
:mod:`specvae.training_set_reader`).

The training set holds every usable spectrum binned on the model's grid (a sparse CSR matrix), the
full fingerprint of every distinct structure (bit-packed), and for every spectrum its structure (or none:
spectra without a parseable structure stay in as unpaired spectra), ion mode, adduct, instrument, license
and identifier. Structures are split into train/validation/test by InChIKey first block, never by spectrum,
so that the collision-energy series of one compound never straddles two splits; the split is a hash of
the first block and the seed, so it does not depend on which files were read or in which order.

Layout (all datasets one row per spectrum or per structure)::

    /spectra/{data, indices, indptr}          CSR matrix, float32, n_spectra × n_bins
    /spectra/{structure, ion_mode, adduct, instrument, license, identifier}
    /structures/{inchikey, inchikey14, smiles, split, fingerprint_packed}
    attrs: binning, fingerprint (JSON), sources, excluded_inchikey14, licenses, seed
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse
from tqdm import tqdm

from mmcore.atomic import atomic_output
from specvae.candidates.candidate import inchikey_first_block
from specvae.errors import ErrorReport, RecordError
from specvae.fingerprints import FingerprintDefinition, compute_fingerprints
from specvae.spectra.binning import SpectrumBinner
from specvae.spectra.merging import merge_spectra
from specvae.spectra.metadata import spectrum_ion_mode, spectrum_title
from specvae.spectra.reading import iter_clean_records

REDISTRIBUTABLE_LICENSES = ("CC0", "CC BY", "CC BY-SA", "dl-de/by-2-0")
"""MassBank licenses that allow redistributing derived work commercially (no NC, no ND clause)."""

SPLITS = ("train", "validation", "test")


class TrainingSetError(ValueError):
    """A training set that cannot be built or read, with the file and the reason."""


@dataclass
class PrepareSummary:
    """What ``prepare`` kept and dropped, printed by the CLI and stored in the file."""

    n_spectra: int = 0
    n_unpaired_spectra: int = 0
    n_structures: int = 0
    structures_per_split: dict[str, int] = field(default_factory=dict)
    n_merged_spectra: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


def read_structure_list(path: str | os.PathLike[str]) -> set[str]:
    """InChIKey first blocks from a file: one InChIKey (or first block) per line, or a CSV with an INCHIKEY column."""
    text = Path(path).read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return set()
    header = [cell.strip().strip('"').lower() for cell in lines[0].split(",")]
    if "inchikey" in header:
        column = header.index("inchikey")
        import csv

        rows = csv.reader(lines[1:])
        return {inchikey_first_block(row[column]) for row in rows if len(row) > column and row[column].strip()}
    return {inchikey_first_block(line.split()[0]) for line in lines}


def split_of(inchikey14: str, seed: int, validation_fraction: float, test_fraction: float) -> str:
    """Deterministic split of a structure from a hash of its first block and the seed."""
    digest = hashlib.sha256(f"{seed}:{inchikey14}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    if position < test_fraction:
        return "test"
    if position < test_fraction + validation_fraction:
        return "validation"
    return "train"


@dataclass
class _SpectrumRow:
    structure_key: str | None
    ion_mode: str
    adduct: str
    instrument: str
    license: str
    identifier: str


def _metadata_text(spectrum, key: str) -> str:
    value = spectrum.get(key)
    return "" if value is None else str(value).strip()


def prepare_training_set(
    spectrum_files: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    binner: SpectrumBinner | None = None,
    fingerprint: FingerprintDefinition | None = None,
    exclude_inchikey14: Iterable[str] = (),
    licenses: Sequence[str] | None = REDISTRIBUTABLE_LICENSES,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    n_workers: int = 1,
    errors: ErrorReport | None = None,
    progress: bool = True,
    merge_collision_energies: bool = False,
) -> PrepareSummary:
    """Build the HDF5 training set at ``output`` (written atomically) and return what was kept and dropped.

    ``licenses=None`` keeps every record; otherwise a record whose LICENSE is not listed is dropped.
    Spectra whose structure's first block is in ``exclude_inchikey14`` are dropped (benchmark answers).
    ``merge_collision_energies`` adds, for every structure of the training split, one spectrum merging all its
    spectra of one ion mode, adduct and instrument type (:func:`specvae.spectra.merging.merge_spectra`), when there
    are two or more; the validation and test splits keep their single spectra, so validation figures stay comparable.
    """
    binner = binner or SpectrumBinner()
    fingerprint = (fingerprint or FingerprintDefinition()).without_mask()
    excluded = {inchikey_first_block(key) for key in exclude_inchikey14}
    allowed = None if licenses is None else {name.strip().lower() for name in licenses}
    summary = PrepareSummary()
    spectra, rows = [], []
    structure_smiles: dict[str, str] = {}

    for path in spectrum_files:
        records = iter_clean_records(path)
        for record in tqdm(records, desc=f"reading {Path(path).name}", unit="spectra", disable=not progress):
            if record.spectrum is None:
                summary.drop("unreadable or rejected by cleaning")
                if errors is not None:
                    errors.append(record.to_record_error())
                continue
            spectrum = record.spectrum
            license_name = _metadata_text(spectrum, "license")
            if allowed is not None and license_name.lower() not in allowed:
                summary.drop(f"license not redistributable ({license_name or 'none'})")
                continue
            ion_mode = spectrum_ion_mode(spectrum)
            if ion_mode is None:
                summary.drop("no ion mode")
                if errors is not None:
                    errors.append(RecordError(str(path), record.record, "no ion mode or charge", record.title))
                continue
            inchikey = _metadata_text(spectrum, "inchikey")
            smiles = _metadata_text(spectrum, "smiles")
            key = inchikey.upper() if len(inchikey) >= 14 and smiles else None
            if key is not None and inchikey_first_block(key) in excluded:
                summary.drop("structure excluded")
                continue
            if key is not None:
                structure_smiles.setdefault(key, smiles)
            spectra.append(spectrum)
            rows.append(
                _SpectrumRow(
                    structure_key=key,
                    ion_mode=ion_mode,
                    adduct=_metadata_text(spectrum, "adduct"),
                    instrument=_metadata_text(spectrum, "instrument_type"),
                    license=license_name,
                    identifier=spectrum_title(spectrum) or f"{Path(path).name}#{record.record}",
                )
            )
    if not spectra:
        raise TrainingSetError(f"no usable spectrum in {', '.join(map(str, spectrum_files))}")

    keys = sorted(structure_smiles)
    result = compute_fingerprints([structure_smiles[key] for key in keys], fingerprint, n_workers, packed=True)
    invalid = {keys[problem.index] for problem in result.errors}
    if errors is not None:
        for problem in result.errors:
            errors.append(RecordError("structures", keys[problem.index], problem.reason, None))
    valid_keys = [key for key in keys if key not in invalid]
    valid_rows = np.array([index for index, key in enumerate(keys) if key not in invalid], dtype=np.int64)
    packed = result.fingerprints[valid_rows] if len(valid_rows) else np.zeros((0, 0), dtype=np.uint8)
    structure_index = {key: index for index, key in enumerate(valid_keys)}

    spectrum_structure = np.array(
        [structure_index.get(row.structure_key, -1) if row.structure_key else -1 for row in rows], dtype=np.int64
    )
    first_blocks = [inchikey_first_block(key) for key in valid_keys]
    splits = [split_of(block, seed, validation_fraction, test_fraction) for block in first_blocks]
    if merge_collision_energies:
        merged_spectra, merged_rows, merged_structure = _merged_training_spectra(
            spectra, rows, spectrum_structure, splits
        )
        spectra, rows = spectra + merged_spectra, rows + merged_rows
        spectrum_structure = np.concatenate([spectrum_structure, np.asarray(merged_structure, dtype=np.int64)])
        summary.n_merged_spectra = len(merged_spectra)
    matrix = binner.bin(spectra)

    summary.n_spectra = len(spectra)
    summary.n_unpaired_spectra = int((spectrum_structure < 0).sum())
    summary.n_structures = len(valid_keys)
    summary.structures_per_split = {name: splits.count(name) for name in SPLITS}
    attributes = {
        "binning": json.dumps(binner.to_dict()),
        "fingerprint": fingerprint.to_json(),
        "sources": json.dumps([str(Path(path).name) for path in spectrum_files]),
        "excluded_inchikey14": json.dumps(sorted(excluded)),
        "licenses": json.dumps(None if licenses is None else list(licenses)),
        "seed": seed,
        "validation_fraction": validation_fraction,
        "test_fraction": test_fraction,
        "summary": json.dumps(summary.__dict__),
    }
    _write(
        output, matrix, rows, spectrum_structure, valid_keys, first_blocks, splits, structure_smiles, packed, attributes
    )
    return summary


def _merged_training_spectra(
    spectra: list, rows: list[_SpectrumRow], spectrum_structure: np.ndarray, splits: list[str]
) -> tuple[list, list[_SpectrumRow], list[int]]:
    """One merged spectrum per (training structure, ion mode, adduct, instrument type) with two or more spectra."""
    groups: dict[tuple, list[int]] = {}
    for index, (row, structure) in enumerate(zip(rows, spectrum_structure, strict=True)):
        if structure >= 0 and splits[structure] == "train":
            groups.setdefault((int(structure), row.ion_mode, row.adduct, row.instrument), []).append(index)
    merged_spectra, merged_rows, merged_structure = [], [], []
    for (structure, ion_mode, adduct, instrument), members in groups.items():
        if len(members) < 2:
            continue
        first = rows[members[0]]
        merged_spectra.append(merge_spectra([spectra[index] for index in members]))
        merged_rows.append(
            _SpectrumRow(
                structure_key=first.structure_key,
                ion_mode=ion_mode,
                adduct=adduct,
                instrument=instrument,
                license="; ".join(sorted({rows[index].license for index in members})),
                identifier=f"merged {len(members)} spectra from {first.identifier}",
            )
        )
        merged_structure.append(structure)
    return merged_spectra, merged_rows, merged_structure


def _strings(values: Sequence[str]) -> np.ndarray:
    return np.array([value.encode("utf-8") for value in values], dtype=h5py.string_dtype("utf-8"))


def _write(
    output,
    matrix: scipy.sparse.csr_matrix,
    rows,
    spectrum_structure,
    keys,
    first_blocks,
    splits,
    smiles,
    packed,
    attributes,
) -> None:
    with atomic_output(output) as temporary, h5py.File(temporary, "w") as handle:
        group = handle.create_group("spectra")
        for name in ("data", "indices", "indptr"):
            group.create_dataset(name, data=getattr(matrix, name), compression="gzip", compression_opts=4)
        group.attrs["shape"] = matrix.shape
        group.create_dataset("structure", data=spectrum_structure)
        for name in ("ion_mode", "adduct", "instrument", "license", "identifier"):
            group.create_dataset(name, data=_strings([getattr(row, name) for row in rows]))
        structures = handle.create_group("structures")
        structures.create_dataset("inchikey", data=_strings(keys))
        structures.create_dataset("inchikey14", data=_strings(first_blocks))
        structures.create_dataset("smiles", data=_strings([smiles[key] for key in keys]))
        structures.create_dataset("split", data=_strings(splits))
        structures.create_dataset("fingerprint_packed", data=packed, compression="gzip", compression_opts=4)
        for name, value in attributes.items():
            handle.attrs[name] = value
