"""A file with charges matchms cannot read: each such record is an error, every other one is read as if alone.

Regression: ``CHARGE=abc`` (also ``+``, ``1+ 2+``, ``1e9``) raised an AssertionError inside
matchms while cleaning, and every good record of the file was lost (tests/data/mgf_bad_charge.mgf).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from specvae.errors import ErrorReport
from specvae.spectra import read_clean_spectra

DATA = Path(__file__).parents[2] / "data"


def test_bad_charges_cost_their_own_records_only(tmp_path: Path) -> None:
    path = DATA / "mgf_bad_charge.mgf"
    report = ErrorReport()
    spectra = read_clean_spectra(path, report)
    assert [spectrum.get("title") for spectrum in spectra] == ["good-1", "good-3", "good-7"]
    assert [(error.file, error.record, error.title) for error in report] == [
        (str(path), 2, "bad-charge-1"),
        (str(path), 4, "bad-charge-2"),
        (str(path), 5, "bad-charge-3"),
        (str(path), 6, "bad-charge-4"),
    ]
    charges = ["'abc'", "'+'", "'1+ 2+'", "'1e9'"]
    for error, charge in zip(report, charges, strict=True):
        assert f"charge {charge} is not an integer charge" in error.reason

    blocks = path.read_text().split("\n\n")
    good = [block for block in blocks if "TITLE=good" in block]
    for spectrum, block in zip(spectra, good, strict=True):
        alone = tmp_path / "alone.mgf"
        alone.write_text(block.strip() + "\n")
        (reference,) = read_clean_spectra(alone)
        np.testing.assert_array_equal(spectrum.peaks.mz, reference.peaks.mz)
        np.testing.assert_array_equal(spectrum.peaks.intensities, reference.peaks.intensities)
        assert spectrum.metadata == reference.metadata
