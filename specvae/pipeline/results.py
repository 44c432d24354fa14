"""What the pipeline hands back: per spectrum its ranked candidates, or the status that says why it has none."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specvae.explanation import Explanation
from specvae.output import EXPLANATION_COLUMNS, OUTPUT_COLUMNS

STATUS_OK = "ok"
STATUS_NO_CANDIDATES = "no_candidates"
"""The spectrum was read and has a model, but no candidate lies in its mass window (or it has no list)."""
STATUS_NO_FINGERPRINTS = "no_fingerprints"
"""The spectrum had candidates, but none could be fingerprinted (all invalid structures)."""


@dataclass
class RankedStructure:
    """One row of the output: a candidate at its rank for a spectrum, or (``status`` other than ``"ok"``) the
    row that says why a spectrum has no ranked candidate, so that no spectrum vanishes from a table.

    ``adduct`` is the adduct the candidate's mass was matched under (with several adducts, the one that
    fits it best); ``precursor_mz`` and ``retention_time`` are the spectrum's, so a table can be joined back
    to an LC-MS feature list without the spectrum file.
    """

    spectrum_id: str
    rank: int | None
    score: float | None
    identifier: str | None
    name: str | None
    inchikey: str | None
    smiles: str | None
    molecular_formula: str | None
    mass_error_ppm: float | None
    n_candidates: int
    binned_intensity_fraction: float = 1.0
    adduct: str | None = None
    precursor_mz: float | None = None
    retention_time: float | None = None
    confidence: float | None = None
    status: str = STATUS_OK
    n_stereoisomers: int = 1
    explanation: Explanation | None = None

    @property
    def inchikey14(self) -> str | None:
        """The InChIKey's first block (the skeleton: stereoisomers share it)."""
        return None if self.inchikey is None else self.inchikey.split("-", 1)[0]

    # ``confidence``: on rank-1 rows, the calibrated probability that the rank-1 skeleton is right (None on the
    # other rows, and when the model has no fitted confidence). ``n_stereoisomers``: the candidates of the list
    # that share this row's InChIKey first block (itself included); with ``collapse_stereo`` only one is shown.
    # ``explanation`` (``annotate(..., explain=True)``): the named bits that raised and lowered the score.

    def as_dict(self, explain: bool = False) -> dict[str, Any]:
        """The output columns; with ``explain``, also the explanation's summary columns (empty without one)."""
        row = {column: getattr(self, column) for column in OUTPUT_COLUMNS}
        if explain:
            summary = self.explanation.summary() if self.explanation is not None else {}
            row.update({column: summary.get(column) for column in EXPLANATION_COLUMNS})
        return row


@dataclass
class SpectrumAnnotation:
    """The ranked candidates of one spectrum (the best ``top_k``; ties share a rank).

    ``status`` is ``"ok"``, or says why ``ranked`` is empty (:data:`STATUS_NO_CANDIDATES`,
    :data:`STATUS_NO_FINGERPRINTS`); the reason in words is in the error report.
    """

    spectrum_id: str
    ion_mode: str
    n_candidates: int
    ranked: list[RankedStructure] = field(default_factory=list)
    status: str = STATUS_OK
    precursor_mz: float | None = None
    retention_time: float | None = None
    binned_intensity_fraction: float = 1.0

    def status_row(self) -> RankedStructure:
        """The one output row of a spectrum without ranked candidates (candidate columns empty)."""
        return RankedStructure(
            spectrum_id=self.spectrum_id,
            rank=None,
            score=None,
            identifier=None,
            name=None,
            inchikey=None,
            smiles=None,
            molecular_formula=None,
            mass_error_ppm=None,
            n_candidates=self.n_candidates,
            binned_intensity_fraction=self.binned_intensity_fraction,
            precursor_mz=self.precursor_mz,
            retention_time=self.retention_time,
            status=self.status,
        )

    def output_rows(self) -> list[RankedStructure]:
        """The ranked rows, or the status row when there are none."""
        return list(self.ranked) if self.ranked else [self.status_row()]


class AnnotationResults(list):
    """A list of :class:`SpectrumAnnotation`, in input order, with table conversions.

    Every spectrum that was read and matched to a model has an entry; one without ranked candidates has an
    empty ``ranked`` list and a ``status`` saying why, and one row (the status row) in :meth:`rows`.
    ``explained``: the rows carry explanations (``annotate(..., explain=True)``), and the tables their columns.
    """

    explained: bool = False

    def columns(self) -> tuple[str, ...]:
        """The table's columns: :data:`OUTPUT_COLUMNS`, plus :data:`EXPLANATION_COLUMNS` when explained."""
        return OUTPUT_COLUMNS + EXPLANATION_COLUMNS if self.explained else OUTPUT_COLUMNS

    def annotated(self) -> list[SpectrumAnnotation]:
        """The entries with ranked candidates."""
        return [annotation for annotation in self if annotation.ranked]

    def rows(self) -> list[dict[str, Any]]:
        return [row.as_dict(self.explained) for annotation in self for row in annotation.output_rows()]

    def to_dataframe(self):
        """A pandas DataFrame with one row per spectrum × candidate (needs ``pip install pandas``)."""
        try:
            import pandas
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("to_dataframe needs pandas: pip install pandas") from error
        return pandas.DataFrame(self.rows(), columns=list(self.columns()))
