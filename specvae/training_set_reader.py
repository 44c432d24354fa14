"""Reading a prepared training set (written by :mod:`specvae.training_set_writer`) into batches for the mmcore Trainer.

Spectra stay a sparse CSR matrix in memory and are densified one batch at a time: 60,000 spectra × 10,000
bins would take 2.4 GB dense, the CSR matrix takes a few tens of MB. Fingerprints stay bit-packed and are
unpacked (and reduced to the model's kept bits) per batch too.

A sample is a spectrum with its structure (paired), a spectrum without a structure (unpaired spectrum), or
a structure without a spectrum (unpaired molecule, from ``--unpaired-smiles``): the semi-supervised data
the SVAE paper trains on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse
import torch
from torch import Tensor

from mmcore.data.dataset import MultimodalBatch
from specvae.architecture import FINGERPRINT, SPECTRUM
from specvae.fingerprints import FingerprintDefinition
from specvae.spectra.binning import SpectrumBinner
from specvae.training_set_writer import TrainingSetError


@dataclass
class TrainingSet:
    """The arrays of a prepared training set (one ion mode or all)."""

    spectra: scipy.sparse.csr_matrix
    spectrum_structure: np.ndarray  # structure row per spectrum, -1 for none
    ion_modes: np.ndarray
    structure_inchikeys: np.ndarray
    structure_inchikey14: np.ndarray
    structure_splits: np.ndarray
    packed_fingerprints: np.ndarray
    binner: SpectrumBinner
    fingerprint: FingerprintDefinition
    attributes: dict

    @classmethod
    def load(cls, path: str | os.PathLike[str], ion_mode: str | None = None) -> TrainingSet:
        """Read ``path``; with ``ion_mode`` keep only that mode's spectra."""
        path = Path(path)
        try:
            with h5py.File(path, "r") as handle:
                group = handle["spectra"]
                shape = tuple(int(value) for value in group.attrs["shape"])
                spectra = scipy.sparse.csr_matrix(
                    (group["data"][()], group["indices"][()], group["indptr"][()]), shape=shape
                )
                spectrum_structure = group["structure"][()]
                ion_modes = group["ion_mode"].asstr()[()]
                structures = handle["structures"]
                inchikeys = structures["inchikey"].asstr()[()]
                inchikey14 = structures["inchikey14"].asstr()[()]
                splits = structures["split"].asstr()[()]
                packed = structures["fingerprint_packed"][()]
                attributes = dict(handle.attrs)
        except (OSError, KeyError) as error:
            raise TrainingSetError(f"{path}: not a specvae training set ({error})") from error
        binner = SpectrumBinner.from_dict(json.loads(attributes["binning"]))
        fingerprint = FingerprintDefinition.from_json(attributes["fingerprint"])
        if ion_mode is not None:
            keep = np.flatnonzero(ion_modes == ion_mode)
            if keep.size == 0:
                raise TrainingSetError(f"{path}: no {ion_mode} mode spectrum")
            spectra, spectrum_structure, ion_modes = spectra[keep], spectrum_structure[keep], ion_modes[keep]
        return cls(
            spectra,
            spectrum_structure,
            ion_modes,
            inchikeys,
            inchikey14,
            splits,
            packed,
            binner,
            fingerprint,
            attributes,
        )

    def fingerprint_bits(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Full fingerprint bits (bool) of the given structure rows (all by default)."""
        packed = self.packed_fingerprints if rows is None else self.packed_fingerprints[rows]
        return np.unpackbits(packed, axis=1, count=self.fingerprint.n_bits).astype(bool)

    def structures_in(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.structure_splits == split)

    def excluded_inchikey14(self) -> set[str]:
        """First blocks of the structures left out when the set was prepared (``--exclude-structures``: benchmark
        answers), stored as JSON text in the file's attributes."""
        return set(json.loads(self.attributes.get("excluded_inchikey14", "[]")))

    def spectra_in(self, split: str) -> np.ndarray:
        """Spectra whose structure is in ``split``; unpaired spectra count as training data."""
        structure_split = np.where(
            self.spectrum_structure >= 0, self.structure_splits[np.maximum(self.spectrum_structure, 0)], "train"
        )
        return np.flatnonzero(structure_split == split)


def spectrum_text_columns(path: str | os.PathLike[str], ion_mode: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Text columns of the spectra (``identifier``, ``adduct``, ...) of one ion mode, in the row order of
    ``TrainingSet.load(path, ion_mode)`` (which does not load them: most callers never need them)."""
    with h5py.File(path, "r") as handle:
        rows = np.flatnonzero(handle["spectra/ion_mode"].asstr()[()] == ion_mode)
        return {name: handle[f"spectra/{name}"].asstr()[()][rows] for name in names}


class SpectrumFingerprintDataset:
    """Spectra (sparse) and kept fingerprint bits as mmcore batches; any sample may lack either modality.

    ``spectrum_rows[i]`` is sample i's row in ``spectra`` (-1: no spectrum), ``fingerprint_rows[i]`` its row
    in ``kept_fingerprints`` (-1: no fingerprint).
    """

    def __init__(
        self,
        spectra: scipy.sparse.csr_matrix,
        kept_fingerprints: np.ndarray,
        spectrum_rows: np.ndarray,
        fingerprint_rows: np.ndarray,
    ) -> None:
        if len(spectrum_rows) != len(fingerprint_rows):
            raise ValueError("spectrum_rows and fingerprint_rows must have one entry per sample")
        if np.any((spectrum_rows < 0) & (fingerprint_rows < 0)):
            raise ValueError("a sample needs a spectrum or a fingerprint")
        self.spectra = spectra.tocsr().astype(np.float32)
        self.kept_fingerprints = np.asarray(kept_fingerprints, dtype=np.float32)
        self.spectrum_rows = np.asarray(spectrum_rows, dtype=np.int64)
        self.fingerprint_rows = np.asarray(fingerprint_rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.spectrum_rows)

    def __getitem__(self, index: int) -> MultimodalBatch:
        return self.batch(torch.tensor([index]))

    def batch(self, indices: Tensor) -> MultimodalBatch:
        indices = np.asarray(indices, dtype=np.int64)
        spectrum_rows = self.spectrum_rows[indices]
        fingerprint_rows = self.fingerprint_rows[indices]
        has_spectrum = spectrum_rows >= 0
        has_fingerprint = fingerprint_rows >= 0
        spectra = np.zeros((len(indices), self.spectra.shape[1]), dtype=np.float32)
        if has_spectrum.any():
            spectra[has_spectrum] = self.spectra[spectrum_rows[has_spectrum]].toarray()
        fingerprints = np.zeros((len(indices), self.kept_fingerprints.shape[1]), dtype=np.float32)
        fingerprints[has_fingerprint] = self.kept_fingerprints[fingerprint_rows[has_fingerprint]]
        return MultimodalBatch(
            {SPECTRUM: torch.from_numpy(spectra), FINGERPRINT: torch.from_numpy(fingerprints)},
            {SPECTRUM: torch.from_numpy(has_spectrum), FINGERPRINT: torch.from_numpy(has_fingerprint)},
        )
