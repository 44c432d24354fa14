"""specvae's molecular fingerprint: its definition, computation, functional-group keys, bit mask and cache."""

from specvae.fingerprints.cache import (
    CachedFingerprints,
    FingerprintCache,
    FingerprintCacheError,
    FingerprintCacheMismatchError,
    InvalidStructuresError,
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
    "compute_fingerprints",
    "fingerprint_molecule",
    "fingerprint_preset",
    "fit_bit_mask",
    "parse_structure",
]
