"""specvae's molecular fingerprint: its definition, computation, functional-group keys, bit mask, cache, and
the rule that decides which fingerprint a candidate row gets (:func:`candidate_row_fingerprints`)."""

from specvae.fingerprints.cache import (
    CachedFingerprints,
    FingerprintCache,
    FingerprintCacheError,
    FingerprintCacheMismatchError,
    InvalidStructuresError,
)
from specvae.fingerprints.candidate_rows import (
    CandidateRowFingerprints,
    candidate_row_fingerprints,
    inchi_fallback_cache_path,
)
from specvae.fingerprints.compute import (
    FingerprintResult,
    InvalidSmartsError,
    InvalidStructure,
    InvalidStructureError,
    compute_fingerprints,
    fingerprint_molecule,
    parse_structure,
)
from specvae.fingerprints.definition import (
    FINGERPRINT_PRESETS,
    FINGERPRINT_VERSION,
    FingerprintDefinition,
    FingerprintDefinitionError,
    fingerprint_preset,
)
from specvae.fingerprints.mask import fit_bit_mask
from specvae.fingerprints.smarts_keys import FUNCTIONAL_GROUP_KEYS

__all__ = [
    "FINGERPRINT_PRESETS",
    "FINGERPRINT_VERSION",
    "FUNCTIONAL_GROUP_KEYS",
    "CachedFingerprints",
    "CandidateRowFingerprints",
    "FingerprintCache",
    "FingerprintCacheError",
    "FingerprintCacheMismatchError",
    "FingerprintDefinition",
    "FingerprintDefinitionError",
    "FingerprintResult",
    "InvalidSmartsError",
    "InvalidStructure",
    "InvalidStructureError",
    "InvalidStructuresError",
    "candidate_row_fingerprints",
    "compute_fingerprints",
    "fingerprint_molecule",
    "fingerprint_preset",
    "fit_bit_mask",
    "inchi_fallback_cache_path",
    "parse_structure",
]
