"""The scoring stage scores packed fingerprints byte by byte: the Bernoulli log-likelihood of the kept bits."""

from __future__ import annotations

import numpy as np

from specvae.fingerprints import FingerprintDefinition
from specvae.pipeline.scoring import byte_tables, packed_scores
from specvae.ranking import score_candidates

DEFINITION = FingerprintDefinition()


def _case(seed: int = 0):
    generator = np.random.default_rng(seed)
    definition = DEFINITION.with_kept_bits(np.sort(generator.choice(DEFINITION.n_bits, 700, replace=False)))
    full = generator.random((300, DEFINITION.n_bits)) < 0.05
    full[1] = full[0]  # identical fingerprints must tie exactly
    probabilities = generator.random(definition.n_kept_bits)
    probabilities[:5] = [0.0, 1.0, 1e-9, 0.5, 1 - 1e-12]
    return definition, full, probabilities


def test_packed_scores_are_the_kept_bits_log_likelihood():
    definition, full, probabilities = _case()
    tables, constant = byte_tables(probabilities, definition)
    scores = packed_scores(np.packbits(full, axis=1), tables, constant)
    reference = score_candidates(probabilities, definition.select_kept(full))
    np.testing.assert_allclose(scores, reference, rtol=0, atol=1e-9)
    assert scores[0] == scores[1]


def test_a_candidates_score_does_not_depend_on_the_list_it_is_in():
    definition, full, probabilities = _case(1)
    packed = np.packbits(full, axis=1)
    tables, constant = byte_tables(probabilities, definition)
    whole = packed_scores(packed, tables, constant)
    in_sevens = np.concatenate([packed_scores(packed[at : at + 7], tables, constant) for at in range(0, 300, 7)])
    alone = np.array([packed_scores(packed[row : row + 1], tables, constant)[0] for row in range(300)])
    assert np.array_equal(whole, in_sevens) and np.array_equal(whole, alone)
    assert packed_scores(packed[:0], tables, constant).shape == (0,)


def test_packed_scores_are_the_sums_of_the_gathered_table_entries_bit_for_bit():
    """However the entries are gathered, each candidate's row of table entries is summed in the same order."""
    definition, full, probabilities = _case(2)
    packed = np.packbits(full, axis=1)
    tables, constant = byte_tables(probabilities, definition)
    gathered = tables[np.arange(tables.shape[0]), packed]
    assert packed_scores(packed, tables, constant).tobytes() == (gathered.sum(axis=1) + constant).tobytes()
