"""Candidate structures: reading (SDF, SMILES lists, CSV/TSV) and choosing the candidates of a spectrum."""

from specvae.candidates.candidate import (
    Candidate,
    CandidateEntry,
    candidate_from_fields,
    candidate_from_mol,
    parse_inchi,
    parse_smiles,
)
from specvae.candidates.candidate_set import (
    DEFAULT_TOLERANCE_PPM,
    CandidateMatch,
    CandidateSet,
    collapse_duplicates,
    mass_error_ppm,
)
from specvae.candidates.formula import candidate_filter
from specvae.candidates.reading import CANDIDATE_FORMATS, read_candidates
from specvae.candidates.sdf import read_sdf
from specvae.candidates.smiles_list import read_smiles_list
from specvae.candidates.table import describe_table_columns, read_candidate_rows, read_candidate_table

__all__ = [
    "CANDIDATE_FORMATS",
    "DEFAULT_TOLERANCE_PPM",
    "Candidate",
    "CandidateEntry",
    "CandidateMatch",
    "CandidateSet",
    "candidate_from_fields",
    "candidate_filter",
    "candidate_from_mol",
    "collapse_duplicates",
    "describe_table_columns",
    "mass_error_ppm",
    "parse_inchi",
    "parse_smiles",
    "read_candidate_rows",
    "read_candidate_table",
    "read_candidates",
    "read_sdf",
    "read_smiles_list",
]
