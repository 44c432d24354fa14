"""FingerprintDefinition: sizes, bit names, JSON round trip, mask selection and validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from specvae.fingerprints.definition import FingerprintDefinition, FingerprintDefinitionError, fingerprint_preset
from specvae.fingerprints.smarts_keys import FUNCTIONAL_GROUP_KEYS


def test_default_layout_is_maccs_then_morgan_then_functional_groups() -> None:
    definition = FingerprintDefinition()
    n_groups = len(FUNCTIONAL_GROUP_KEYS)
    assert definition.component_sizes() == {"maccs": 167, "morgan": 2048, "smarts_fg": n_groups}
    assert definition.n_bits == 167 + 2048 + n_groups
    assert definition.n_kept_bits == definition.n_bits
    names = definition.bit_names()
    assert len(names) == definition.n_bits
    assert names[42] == "MACCS 42"
    assert names[167 + 1234] == "Morgan r2 bit 1234"
    acid_position = [name for name, _ in FUNCTIONAL_GROUP_KEYS].index("carboxylic acid")
    assert names[167 + 2048 + acid_position] == "FG: carboxylic acid"


def test_component_order_and_sizes_define_the_layout() -> None:
    definition = FingerprintDefinition(
        components=("smarts_fg", "morgan"),
        morgan_radius=3,
        morgan_n_bits=16,
        smarts_keys=(("ester", "[#6]C(=O)O[#6]"), ("phenol", "[OX2H]c")),
    )
    assert definition.n_bits == 18
    assert definition.bit_names()[:3] == ["FG: ester", "FG: phenol", "Morgan r3 bit 0"]


def test_json_round_trip_keeps_everything_including_the_mask() -> None:
    definition = FingerprintDefinition().with_kept_bits([3, 7, 200, 2300])
    text = json.dumps(definition.to_dict())
    restored = FingerprintDefinition.from_dict(json.loads(text))
    assert restored == definition
    assert restored.kept_bits == (3, 7, 200, 2300)
    assert FingerprintDefinition.from_json(definition.to_json()) == definition
    assert definition.without_mask() == FingerprintDefinition()


def test_mask_selects_columns_and_names() -> None:
    definition = FingerprintDefinition().with_kept_bits(np.array([1, 170, 2216]))
    assert definition.n_kept_bits == 3
    assert definition.kept_bit_names() == ["MACCS 1", "Morgan r2 bit 3", "FG: " + FUNCTIONAL_GROUP_KEYS[1][0]]
    full = np.zeros((2, definition.n_bits), dtype=bool)
    full[0, 170] = True
    full[1, [1, 2216, 5]] = True
    np.testing.assert_array_equal(definition.select_kept(full), [[False, True, False], [True, False, True]])
    with pytest.raises(ValueError, match="shape"):
        definition.select_kept(full[:, :10])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"components": ("maccs", "ecfp")}, "unknown fingerprint components"),
        ({"components": ("maccs", "maccs")}, "repeat"),
        ({"components": ()}, "at least one component"),
        ({"morgan_n_bits": 0}, "morgan_n_bits"),
        ({"smarts_keys": (("a", "C"), ("a", "N"))}, "names repeat"),
        ({"kept_bits": (5, 3)}, "strictly increasing"),
        ({"kept_bits": (0, 10_000)}, "must lie in"),
        ({"kept_bits": ()}, "empty"),
        ({"version": 99}, "version 99"),
    ],
)
def test_inconsistent_definitions_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(FingerprintDefinitionError, match=message):
        FingerprintDefinition(**changes)


def test_from_dict_names_missing_and_unknown_fields() -> None:
    data = FingerprintDefinition().to_dict()
    del data["morgan_radius"]
    data["colour"] = "blue"
    with pytest.raises(FingerprintDefinitionError, match=r"missing \['morgan_radius'\], unknown \['colour'\]"):
        FingerprintDefinition.from_dict(data)
    with pytest.raises(FingerprintDefinitionError, match="not valid JSON"):
        FingerprintDefinition.from_json("{not json")


def test_files_written_before_atom_pairs_existed_still_load_as_the_same_bits() -> None:
    # A model file or cache of the first release has no "atom_pair_n_bits" field.
    data = FingerprintDefinition().to_dict()
    del data["atom_pair_n_bits"]
    restored = FingerprintDefinition.from_dict(data)
    assert restored == FingerprintDefinition()
    assert restored.n_bits == 167 + 2048 + len(FUNCTIONAL_GROUP_KEYS)


def test_presets_name_the_two_layouts() -> None:
    assert fingerprint_preset("keys") == FingerprintDefinition()
    fast = fingerprint_preset("fast")
    assert fast.component_sizes() == {"morgan": 2048, "atom_pair": 1024}
    assert fast.bit_names()[2048] == "atom pair bit 0"
    assert FingerprintDefinition.from_json(fast.to_json()) == fast
    with pytest.raises(FingerprintDefinitionError, match="unknown fingerprint preset 'slow'"):
        fingerprint_preset("slow")
