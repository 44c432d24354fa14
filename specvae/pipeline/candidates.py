"""Reading the candidates a run ranks: a file, a pandas DataFrame, a :class:`CandidateSet`, or structures."""

from __future__ import annotations

import os
from typing import Any

from rdkit import Chem

from specvae.candidates import (
    Candidate,
    CandidateSet,
    candidate_filter,
    candidate_from_mol,
    parse_smiles,
    read_candidate_rows,
)
from specvae.candidates.reading import read_candidate_file_set
from specvae.errors import ErrorReport, InvalidStructureError, RecordError
from specvae.pipeline.collector import collector_paused

CANDIDATE_OBJECTS = "<candidates>"
"""The source named in reports for candidates given as objects rather than a file."""


def candidate_source(candidates: Any) -> str:
    """How reports name the candidates: the file, ``<DataFrame>``, or ``<candidates>``."""
    if isinstance(candidates, (str, os.PathLike)):
        return str(candidates)
    return "<DataFrame>" if is_data_frame(candidates) else CANDIDATE_OBJECTS


def is_data_frame(candidates: Any) -> bool:
    """Whether ``candidates`` reads like a pandas DataFrame (pandas itself is not imported for this)."""
    return hasattr(candidates, "columns") and hasattr(candidates, "itertuples")


def read_candidate_set(
    candidates: Any,
    errors: ErrorReport,
    *,
    spectrum_id_column: str | None = None,
    formula: str | None = None,
    elements: str | None = None,
) -> CandidateSet:
    """The :class:`CandidateSet` of a file, a pandas DataFrame with the columns of a candidate table, a
    CandidateSet, or SMILES / RDKit molecules / :class:`Candidate` objects (a pool), restricted to ``formula`` /
    ``elements`` when given (:func:`~specvae.candidates.candidate_filter`). Bad records go to ``errors``. The
    garbage collector is paused meanwhile (:mod:`specvae.pipeline.collector`): a large table is hundreds of
    thousands of small objects."""
    with collector_paused():
        candidate_set = _unfiltered_candidate_set(candidates, errors, spectrum_id_column)
        if formula or elements:
            candidate_set = candidate_set.filtered(candidate_filter(formula, elements))
    return candidate_set


def _unfiltered_candidate_set(candidates: Any, errors: ErrorReport, spectrum_id_column: str | None) -> CandidateSet:
    if isinstance(candidates, CandidateSet):
        return candidates
    if isinstance(candidates, (str, os.PathLike)):
        return read_candidate_file_set(candidates, errors, spectrum_id_column=spectrum_id_column)
    if is_data_frame(candidates):
        source = candidate_source(candidates)
        rows = candidates.itertuples(index=False, name=None)
        entries = read_candidate_rows(
            list(candidates.columns), rows, source, errors, spectrum_id_column=spectrum_id_column
        )
        candidate_set = CandidateSet.from_entries(entries)
        for entry, reason in candidate_set.rejected:
            errors.append(RecordError(source, entry.record, reason, entry.candidate.name))
        return candidate_set
    if isinstance(candidates, (Candidate, Chem.Mol)):
        candidates = [candidates]
    pool = []
    for index, item in enumerate(candidates, start=1):
        try:
            if isinstance(item, Candidate):
                pool.append(item)
            elif isinstance(item, Chem.Mol):
                title = item.GetProp("_Name").strip() if item.HasProp("_Name") else ""
                pool.append(candidate_from_mol(item, identifier=title or str(index), name=title or None))
            else:
                pool.append(candidate_from_mol(parse_smiles(str(item)), identifier=str(index), smiles=str(item)))
        except (InvalidStructureError, TypeError, ValueError) as error:
            errors.append(RecordError(CANDIDATE_OBJECTS, index, str(error), None))
    return CandidateSet.pool(pool)
