"""The pipeline's candidate-fingerprint stage: one per distinct InChIKey, the InChI when the SMILES fails, the
cache, a damaged cache."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from specvae.benchmark.challenges import CandidateList, Challenge
from specvae.benchmark.evaluation import challenge_candidates
from specvae.fingerprints import (
    FingerprintCache,
    FingerprintDefinition,
    fingerprint_molecule,
    inchi_fallback_cache_path,
)
from specvae.pipeline import candidate_fingerprints

DEFINITION = FingerprintDefinition()
PYRIDINE = "c1ccncc1"
PYRROLE = "c1cc[nH]c1"


def challenge(name: str, rows: list[tuple[str, str, str]]) -> Challenge:
    """A challenge with candidates given as (smiles, inchi, inchikey)."""
    candidates = CandidateList(
        tuple(str(i) for i in range(len(rows))),
        tuple(key for _, _, key in rows),
        tuple(smiles for smiles, _, _ in rows),
        tuple(inchi for _, inchi, _ in rows),
    )
    return Challenge(name, "positive", None, candidates, rows[0][2])


def candidate_bits(challenges, definition, *, cache_path=None, progress=False, rebuild_cache=False):
    """The fingerprint stage over the distinct candidates of some challenges, as ``specvae benchmark`` runs it."""
    distinct = {}
    for one in challenges:
        for candidate in challenge_candidates(one):
            distinct.setdefault(candidate.structure_identity(), candidate)
    cache = None if cache_path is None else FingerprintCache(cache_path, definition, rebuild_damaged=rebuild_cache)
    return candidate_fingerprints(list(distinct.values()), definition, cache=cache, progress=progress)


def by_key(found, challenges):
    """The fingerprints of the challenges' candidates keyed by InChIKey, as one query reads them."""
    return found.for_candidates([candidate for one in challenges for candidate in challenge_candidates(one)])


def row(smiles: str) -> tuple[str, str, str]:
    mol = Chem.MolFromSmiles(smiles)
    return smiles, Chem.MolToInchi(mol), Chem.MolToInchiKey(mol)


def test_bits_per_distinct_key_inchi_fallback_and_warm_cache(tmp_path) -> None:
    pyridine = row(PYRIDINE)
    # pyrrole without its [nH]: a SMILES RDKit cannot kekulise, with pyrrole's good InChI and key: the InChI stands
    # in. (Its key must be the InChI's own: a made-up key is a wrong key, which is reported.)
    pyrrole = row(PYRROLE)
    broken = ("c1ccnc1", pyrrole[1], pyrrole[2])
    hopeless = ("C1CC", "InChI=1S/garbage", "YYYYYYYYYYYYYY-UHFFFAOYSA-N")
    challenges = [
        challenge("a", [row("CCO"), pyridine, broken]),
        challenge("b", [row("CCO"), hopeless, row("OC(=O)c1ccccc1")]),
    ]
    cache = tmp_path / "fp.h5"
    cold = candidate_bits(challenges, DEFINITION, cache_path=cache, progress=False)
    assert cold.n_distinct == 5 and cold.n_computed == 5  # CCO is computed once
    keyed = by_key(cold, challenges)
    assert set(keyed.failures) == {hopeless[2]} and "InChI" in keyed.failures[hopeless[2]]
    bits, valid = keyed.kept_bits([broken[2], pyridine[2], hopeless[2]], DEFINITION)
    assert valid.tolist() == [True, True, False]
    np.testing.assert_array_equal(bits[0], fingerprint_molecule(PYRROLE, DEFINITION))
    np.testing.assert_array_equal(bits[1], fingerprint_molecule(PYRIDINE, DEFINITION))
    assert not bits[2].any()
    assert inchi_fallback_cache_path(cache).name == "fp.from_inchi.h5" and inchi_fallback_cache_path(cache).exists()
    # warm: nothing computed, same bits, the fallback read from its cache
    warm = candidate_bits(challenges, DEFINITION, cache_path=cache, progress=False)
    assert warm.n_computed == 0 and warm.row_of.keys() == cold.row_of.keys()
    np.testing.assert_array_equal(warm.packed, cold.packed)
    # without a cache the same result
    uncached = candidate_bits(challenges, DEFINITION, progress=False)
    np.testing.assert_array_equal(uncached.packed, cold.packed)
    masked = DEFINITION.with_kept_bits([0, 170, 2300])
    kept, _ = by_key(uncached, challenges).kept_bits([pyridine[2]], masked)
    np.testing.assert_array_equal(kept[0], fingerprint_molecule(PYRIDINE, DEFINITION)[[0, 170, 2300]])


@pytest.mark.parametrize("cached", [False, True])
def test_a_wrong_inchikey_gets_no_fingerprint_with_or_without_a_cache(tmp_path, cached: bool) -> None:
    """Regression: a well-formed key that names another structure must not give that structure's bits to the row
    (a decoy inheriting the true structure's fingerprint); the cache refuses it, so the uncached path must too."""
    pyridine = row(PYRIDINE)
    wrong = ("CCO", row("CCO")[1], "XXXXXXXXXXXXXX-UHFFFAOYSA-N")  # neither the SMILES nor the InChI is this key
    challenges = [challenge("a", [pyridine, wrong])]
    bits = candidate_bits(challenges, DEFINITION, cache_path=tmp_path / "fp.h5" if cached else None, progress=False)
    keyed = by_key(bits, challenges)
    assert set(keyed.failures) == {wrong[2]}
    assert "is not the structure's own InChIKey" in keyed.failures[wrong[2]]
    assert keyed.row_of.keys() == {pyridine[2]}


def test_a_damaged_cache_is_an_error_naming_it_or_moved_aside_with_rebuild_cache(tmp_path) -> None:
    """``specvae benchmark --rebuild-cache`` (as annotate's): the damaged file is moved aside and rebuilt."""
    from specvae.fingerprints import FingerprintCacheError

    challenges = [challenge("a", [row("CCO"), row(PYRIDINE)])]
    cache = tmp_path / "fp.h5"
    cache.write_bytes(b"\x89HDF\r\n\x1a\n" + b"not a cache" * 20)
    with pytest.raises(FingerprintCacheError, match=str(cache)):
        candidate_bits(challenges, DEFINITION, cache_path=cache, progress=False)
    rebuilt = candidate_bits(challenges, DEFINITION, cache_path=cache, progress=False, rebuild_cache=True)
    assert [path.name for path in rebuilt.moved_aside] == [next(tmp_path.glob("fp.h5.corrupt-*")).name]
    np.testing.assert_array_equal(rebuilt.packed, candidate_bits(challenges, DEFINITION, progress=False).packed)
