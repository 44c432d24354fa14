"""What a specvae fingerprint is: its components, their sizes and the mask of bits a model predicts.

The definition is data, not code, so that a model file can carry it (``to_dict`` is JSON-able) and a candidate
cache can refuse fingerprints computed under another definition. The bit layout is the concatenation of the
components in the order given in ``components``:

- ``"maccs"``: RDKit's 167 MACCS keys (``MACCSkeys.GenMACCSKeys``; key 0 is unused by RDKit and always 0, kept so
  that bit ``i`` of this block is MACCS key ``i``).
- ``"morgan"``: Morgan (ECFP-like) bits of radius ``morgan_radius`` folded to ``morgan_n_bits``
  (``rdFingerprintGenerator.GetMorganGenerator``), presence bits, not counts.
- ``"smarts_fg"``: one bit per functional-group SMARTS key in ``smarts_keys`` (default: ``FUNCTIONAL_GROUP_KEYS``),
  set when the group occurs at least once.
- ``"atom_pair"``: RDKit atom-pair bits (pairs of atom types at a topological distance) folded to
  ``atom_pair_n_bits`` (``rdFingerprintGenerator.GetAtomPairGenerator``), presence bits.

Two presets (``FINGERPRINT_PRESETS``) name the layouts the project uses:

- ``"keys"`` (``FingerprintDefinition()``, the shipped models'): MACCS + Morgan r2 2048 + functional groups,
  2,419 bits. The substructure keys cost about 0.75 ms of CPU a molecule (every key is one RDKit SMARTS match).
- ``"fast"``: Morgan r2 2048 + atom pairs 1024, 3,072 bits at about 0.3 ms a molecule (no SMARTS matching), for
  candidate sets too large to fingerprint with keys. It ranks worse: trained identically, a feed-forward model
  found 14 instead of 20 of the 127 positive CASMI 2016 answers at rank 1
  (``benchmarks/results/casmi2016/fingerprint_choice.md``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from specvae.fingerprints.smarts_keys import FUNCTIONAL_GROUP_KEYS

FINGERPRINT_VERSION = 1
MACCS_N_BITS = 167
COMPONENT_NAMES = ("maccs", "morgan", "smarts_fg", "atom_pair")
DEFAULT_COMPONENTS = ("maccs", "morgan", "smarts_fg")
# Fields added after version 1 was first written, with the value that reproduces older files (which lack them).
_LATER_FIELDS = {"atom_pair_n_bits": 1024}


class FingerprintDefinitionError(ValueError):
    """A fingerprint definition is inconsistent, or a stored one cannot be read."""


@dataclass(frozen=True)
class FingerprintDefinition:
    """The fingerprint layout; the default is the project's MACCS + Morgan r2 2048 + functional-group fingerprint.

    Example::

        definition = FingerprintDefinition()
        definition.n_bits                  # 167 + 2048 + len(FUNCTIONAL_GROUP_KEYS)
        definition.bit_names()[0:2]        # ["MACCS 0", "MACCS 1"]
        restored = FingerprintDefinition.from_dict(json.loads(json.dumps(definition.to_dict())))
    """

    version: int = FINGERPRINT_VERSION
    components: tuple[str, ...] = DEFAULT_COMPONENTS
    morgan_radius: int = 2
    morgan_n_bits: int = 2048
    smarts_keys: tuple[tuple[str, str], ...] = FUNCTIONAL_GROUP_KEYS
    atom_pair_n_bits: int = 1024
    kept_bits: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        # Normalise lists (from JSON or user code) to tuples so the definition stays hashable and comparable.
        object.__setattr__(self, "components", tuple(self.components))
        object.__setattr__(self, "smarts_keys", tuple((str(name), str(smarts)) for name, smarts in self.smarts_keys))
        if self.kept_bits is not None:
            object.__setattr__(self, "kept_bits", tuple(int(bit) for bit in self.kept_bits))
        self._validate()

    def _validate(self) -> None:
        if self.version != FINGERPRINT_VERSION:
            raise FingerprintDefinitionError(
                f"fingerprint definition version {self.version} is not supported by this specvae "
                f"(it computes version {FINGERPRINT_VERSION})"
            )
        if not self.components:
            raise FingerprintDefinitionError("a fingerprint needs at least one component")
        unknown = [name for name in self.components if name not in COMPONENT_NAMES]
        if unknown:
            raise FingerprintDefinitionError(
                f"unknown fingerprint components {unknown}; known: {list(COMPONENT_NAMES)}"
            )
        if len(set(self.components)) != len(self.components):
            raise FingerprintDefinitionError(f"fingerprint components repeat: {list(self.components)}")
        if self.morgan_radius < 0:
            raise FingerprintDefinitionError(f"morgan_radius must be >= 0, got {self.morgan_radius}")
        if self.morgan_n_bits < 1:
            raise FingerprintDefinitionError(f"morgan_n_bits must be >= 1, got {self.morgan_n_bits}")
        if self.atom_pair_n_bits < 1:
            raise FingerprintDefinitionError(f"atom_pair_n_bits must be >= 1, got {self.atom_pair_n_bits}")
        if "smarts_fg" in self.components and not self.smarts_keys:
            raise FingerprintDefinitionError("component 'smarts_fg' needs at least one SMARTS key")
        names = [name for name, _ in self.smarts_keys]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise FingerprintDefinitionError(f"SMARTS key names repeat: {repeated}")
        if self.kept_bits is not None:
            kept = np.asarray(self.kept_bits, dtype=np.int64)
            if kept.size == 0:
                raise FingerprintDefinitionError("kept_bits is empty: a fingerprint with no bit cannot rank anything")
            if np.any(np.diff(kept) <= 0):
                raise FingerprintDefinitionError("kept_bits must be strictly increasing bit indices")
            if kept[0] < 0 or kept[-1] >= self.n_bits:
                raise FingerprintDefinitionError(
                    f"kept_bits must lie in [0, {self.n_bits}), got range [{kept[0]}, {kept[-1]}]"
                )

    # ----- sizes and names -----
    def component_sizes(self) -> dict[str, int]:
        """Number of bits of each component, in layout order."""
        sizes = {
            "maccs": MACCS_N_BITS,
            "morgan": self.morgan_n_bits,
            "smarts_fg": len(self.smarts_keys),
            "atom_pair": self.atom_pair_n_bits,
        }
        return {name: sizes[name] for name in self.components}

    @property
    def n_bits(self) -> int:
        """Length of the full fingerprint (before masking)."""
        return sum(self.component_sizes().values())

    @property
    def n_kept_bits(self) -> int:
        """Length of the fingerprint a model predicts (after masking)."""
        return self.n_bits if self.kept_bits is None else len(self.kept_bits)

    def kept_bit_indices(self) -> np.ndarray:
        """Indices of the kept bits into the full fingerprint, as an int64 array."""
        if self.kept_bits is None:
            return np.arange(self.n_bits, dtype=np.int64)
        return np.asarray(self.kept_bits, dtype=np.int64)

    def bit_names(self) -> list[str]:
        """Human-readable name of every bit of the full fingerprint: "MACCS 42", "Morgan r2 bit 1234", "FG: ester"."""
        names: list[str] = []
        for component in self.components:
            if component == "maccs":
                names.extend(f"MACCS {key}" for key in range(MACCS_N_BITS))
            elif component == "morgan":
                names.extend(f"Morgan r{self.morgan_radius} bit {bit}" for bit in range(self.morgan_n_bits))
            elif component == "atom_pair":
                names.extend(f"atom pair bit {bit}" for bit in range(self.atom_pair_n_bits))
            else:
                names.extend(f"FG: {name}" for name, _ in self.smarts_keys)
        return names

    def kept_bit_names(self) -> list[str]:
        """Names of the kept bits, in the order a model predicts them."""
        names = self.bit_names()
        return [names[bit] for bit in self.kept_bit_indices()]

    # ----- masking -----
    def with_kept_bits(self, kept_bits: Sequence[int] | np.ndarray | None) -> FingerprintDefinition:
        """The same fingerprint with another mask (``None``: keep every bit)."""
        kept = None if kept_bits is None else tuple(int(bit) for bit in np.asarray(kept_bits).ravel())
        return dataclasses.replace(self, kept_bits=kept)

    def without_mask(self) -> FingerprintDefinition:
        """The same fingerprint with every bit kept: what a cache of full fingerprints is keyed on."""
        return self.with_kept_bits(None)

    def select_kept(self, fingerprints: np.ndarray) -> np.ndarray:
        """Columns of the kept bits of full fingerprints ``(n, n_bits)`` -> ``(n, n_kept_bits)``."""
        fingerprints = np.asarray(fingerprints)
        if fingerprints.ndim != 2 or fingerprints.shape[1] != self.n_bits:
            raise ValueError(f"expected fingerprints of shape (n, {self.n_bits}), got {fingerprints.shape}")
        if self.kept_bits is None:
            return fingerprints
        return fingerprints[:, self.kept_bit_indices()]

    # ----- serialisation -----
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (lists, ints, strings) that ``from_dict`` restores exactly."""
        return {
            "version": self.version,
            "components": list(self.components),
            "morgan_radius": self.morgan_radius,
            "morgan_n_bits": self.morgan_n_bits,
            "smarts_keys": [{"name": name, "smarts": smarts} for name, smarts in self.smarts_keys],
            "atom_pair_n_bits": self.atom_pair_n_bits,
            "kept_bits": None if self.kept_bits is None else list(self.kept_bits),
        }

    def to_json(self) -> str:
        """``to_dict`` as a compact, key-sorted JSON string (stable, so two equal definitions give equal text)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FingerprintDefinition:
        """Rebuild a definition written by ``to_dict``; unknown or missing fields are errors, not guesses.

        The one exception: fields added after the first release (``_LATER_FIELDS``) take the value that the older
        file implied, so model files and caches written before them still load and mean the same bits.
        """
        expected = {field.name for field in dataclasses.fields(cls)}
        data = {**_LATER_FIELDS, **data}
        missing = sorted(expected - set(data))
        unknown = sorted(set(data) - expected)
        if missing or unknown:
            raise FingerprintDefinitionError(
                f"fingerprint definition fields do not match: missing {missing}, unknown {unknown}"
            )
        try:
            smarts_keys = tuple((entry["name"], entry["smarts"]) for entry in data["smarts_keys"])
        except (KeyError, TypeError) as error:
            raise FingerprintDefinitionError(
                f"smarts_keys must be a list of {{'name', 'smarts'}} objects: {error!r}"
            ) from error
        return cls(
            version=int(data["version"]),
            components=tuple(data["components"]),
            morgan_radius=int(data["morgan_radius"]),
            morgan_n_bits=int(data["morgan_n_bits"]),
            smarts_keys=smarts_keys,
            atom_pair_n_bits=int(data["atom_pair_n_bits"]),
            kept_bits=None if data["kept_bits"] is None else tuple(data["kept_bits"]),
        )

    @classmethod
    def from_json(cls, text: str) -> FingerprintDefinition:
        """Inverse of ``to_json``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise FingerprintDefinitionError(f"fingerprint definition is not valid JSON: {error}") from error
        if not isinstance(data, dict):
            raise FingerprintDefinitionError("fingerprint definition JSON must be an object")
        return cls.from_dict(data)


FINGERPRINT_PRESETS: dict[str, FingerprintDefinition] = {
    "keys": FingerprintDefinition(),
    "fast": FingerprintDefinition(components=("morgan", "atom_pair")),
}


def fingerprint_preset(name: str) -> FingerprintDefinition:
    """The named fingerprint layout (``"keys"`` or ``"fast"``, see the module docstring)."""
    try:
        return FINGERPRINT_PRESETS[name]
    except KeyError:
        raise FingerprintDefinitionError(
            f"unknown fingerprint preset {name!r}; known: {sorted(FINGERPRINT_PRESETS)}"
        ) from None
