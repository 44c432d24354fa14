"""Caption tokeniser and vocabulary: hand-checked ids, MMVAE's counting rule, and the real CUB test captions."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from mmcore.data.manifest import data_file
from mmcore.data.text import (
    EOS,
    MAX_LENGTH,
    SPECIAL_TOKENS,
    UNK,
    Vocabulary,
    VocabularyError,
    tokenize,
)

CAPTIONS = [
    "A small bird, with a red crown.",
    "this bird has a red crown and a small bill",
    "a bird with a yellow-green belly.",
    "small bird, red crown, small bill.",
]


def test_tokenizer_splits_words_and_punctuation():
    assert tokenize("A bird, (small) & yellow-throated; it's 2 cm.") == [
        "a", "bird", ",", "(", "small", ")", "&", "yellow-throated", ";", "it's", "2", "cm", ".",
    ]
    assert tokenize("bill,a white belly") == ["bill", ",", "a", "white", "belly"]
    assert tokenize("   ") == []


def test_vocabulary_keeps_tokens_seen_at_least_min_count_times_in_first_occurrence_order():
    # Counts: a 6, small 4, bird 4, "," 3, red 3, crown 3, "." 3, with 2, bill 2, the rest 1.
    vocabulary = Vocabulary.build(CAPTIONS, min_count=4)
    assert vocabulary.tokens == (*SPECIAL_TOKENS, "a", "small", "bird")
    assert Vocabulary.build(CAPTIONS, min_count=3).tokens == (
        *SPECIAL_TOKENS, "a", "small", "bird", ",", "red", "crown", ".",
    )
    assert (vocabulary.pad_index, vocabulary.unk_index, vocabulary.bos_index, vocabulary.eos_index) == (0, 1, 2, 3)
    assert len(vocabulary) == 7 and "bird" in vocabulary and "red" not in vocabulary


def test_encoding_truncates_appends_eos_and_pads():
    vocabulary = Vocabulary.build(CAPTIONS, min_count=3)  # a=4 small=5 bird=6 ,=7 red=8 crown=9 .=10
    assert vocabulary.encode("A small red bird.", length=8) == [4, 5, 8, 6, 10, 3, 0, 0]
    assert vocabulary.encode("a small pink bird", length=8) == [4, 5, 1, 6, 3, 0, 0, 0]  # pink -> <unk>
    assert vocabulary.encode("a a a a a a a a a a", length=5) == [4, 4, 4, 4, 3]  # 4 tokens + <eos>
    assert vocabulary.encode("red crown", length=5, add_bos=True) == [2, 8, 9, 3, 0]
    assert vocabulary.decode([2, 8, 9, 3, 4, 0]) == ["red", "crown"]  # stops at <eos>
    ids = vocabulary.encode_batch(CAPTIONS, length=12)
    assert ids.shape == (4, 12) and ids.dtype == torch.long
    with pytest.raises(ValueError, match="no room for <eos>"):
        vocabulary.encode("a", length=0)


def test_vocabulary_json_round_trip(tmp_path):
    vocabulary = Vocabulary.build(CAPTIONS, min_count=3)
    path = tmp_path / "vocabulary.json"
    vocabulary.save(path)
    assert Vocabulary.load(path) == vocabulary
    path.write_text('{"format": "mmcore-vocabulary", "tokens": ["a", "b"]}')
    with pytest.raises(VocabularyError, match="must start with"):
        Vocabulary.load(path)
    path.write_text("[")
    with pytest.raises(VocabularyError, match="vocabulary.json: not valid JSON"):
        Vocabulary.load(path)


@pytest.mark.data
def test_real_cub_test_captions(data_dir):
    path = data_file(data_dir, "cub", "cub/text_testclasses.txt", verify=True)  # sha256 from cub.json
    captions = path.read_text(encoding="utf-8").splitlines()
    assert len(captions) == 29_330 == 10 * 2_933  # ten captions for each of the 2,933 test-class images
    token_lists = [tokenize(caption) for caption in captions]
    counts = Counter(token for tokens in token_lists for token in tokens)
    vocabulary = Vocabulary.build(captions)
    frequent = {token for token, count in counts.items() if count >= 4}
    assert set(vocabulary.tokens[4:]) == frequent and len(vocabulary) == 4 + len(frequent)
    assert Vocabulary.build(captions) == vocabulary
    assert Vocabulary.build(reversed(captions)).tokens != vocabulary.tokens  # order of first occurrence...
    assert set(Vocabulary.build(reversed(captions)).tokens) == set(vocabulary.tokens)  # ...but the same tokens
    assert {"bird", "wings", "beak", "belly", ","} <= frequent
    ids = vocabulary.encode_batch(captions)
    assert ids.shape == (29_330, MAX_LENGTH)
    assert torch.equal((ids == vocabulary.eos_index).sum(1), torch.ones(29_330, dtype=torch.long))
    for tokens, row in zip(token_lists, ids, strict=True):
        expected = [token if token in vocabulary else UNK for token in tokens[: MAX_LENGTH - 1]]
        assert vocabulary.decode(row) == expected
        assert vocabulary.tokens[int(row[len(expected)])] == EOS
    truncated = sum(len(tokens) > MAX_LENGTH - 1 for tokens in token_lists)
    assert int((ids[:, -1] == vocabulary.eos_index).sum()) == truncated + sum(
        len(tokens) == MAX_LENGTH - 1 for tokens in token_lists
    )
    unknown = sum(counts[token] for token in counts if token not in vocabulary)
    assert unknown == sum(count for token, count in counts.items() if count < 4)
