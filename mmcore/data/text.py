"""Captions as fixed-length token ids: the tokeniser and vocabulary of the CUB image-caption benchmark.

The protocol is MMVAE's (Shi et al. 2019, ``CUBSentences`` in its code release): a caption is split into
words and punctuation; the vocabulary is built on the *training* captions and holds every token that
occurs more than 3 times (its ``min_occ=3`` with a strict comparison, i.e. ``min_count=4`` here), in order
of first occurrence; a caption becomes its first ``length - 1`` tokens, then ``<eos>``, then ``<pad>`` up
to ``length = 32``; tokens outside the vocabulary become ``<unk>`` (MMVAE's ``<exc>``).

Differences, on purpose: MMVAE tokenises with NLTK's ``word_tokenize``; this module uses one regular
expression (lower-cased words and numbers, keeping inner hyphens and apostrophes, and every other
non-space character as a token of its own) so that the package needs no NLTK and its data files.
It differs from NLTK mainly on contractions ("it's" stays one token). MMVAE also runs NLTK's sentence
splitter over the whole file, which merges captions that lack a final period with the next line and so
breaks the "caption k belongs to image k // 10" pairing; here every line is one caption. The special
tokens are ``<pad>`` = 0 (the padding index of :class:`mmcore.networks.TextCNNEncoder` and
:class:`mmcore.likelihoods.CategoricalLikelihood`), ``<unk>`` = 1, ``<bos>`` = 2 and ``<eos>`` = 3;
``<bos>`` is only written with ``add_bos=True`` (MMVAE has none).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from mmcore.atomic import atomic_write_text

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, BOS, EOS)
"""Special tokens; their ids are their positions (``<pad>`` = 0)."""
MAX_LENGTH = 32
"""Tokens per encoded caption, ``<eos>`` and padding included (MMVAE's ``maxSentLen``)."""
MIN_COUNT = 4
"""A token enters the vocabulary when it occurs at least this often (MMVAE: more than ``min_occ=3`` times)."""
VOCABULARY_FORMAT = "mmcore-vocabulary"

_TOKEN = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*|[^\sa-z0-9]")


class VocabularyError(ValueError):
    """A vocabulary file is malformed or lacks the special tokens."""


def tokenize(caption: str) -> list[str]:
    """Lower-cased words and punctuation: ``"A bird, (small)."`` -> ``["a", "bird", ",", "(", "small", ")", "."]``."""
    return _TOKEN.findall(caption.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> id mapping: the special tokens first, then the words.

    Example::

        vocabulary = Vocabulary.build(training_captions)
        ids = vocabulary.encode_batch(captions)          # (n, 32) int64
        vocabulary.decode(ids[0].tolist())               # ["this", "bird", ...]
    """

    tokens: tuple[str, ...]
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise VocabularyError(f"a vocabulary must start with {SPECIAL_TOKENS}, got {tuple(self.tokens[:4])}")
        ids = {token: position for position, token in enumerate(self.tokens)}
        if len(ids) != len(self.tokens):
            raise VocabularyError("a vocabulary must not repeat a token")
        object.__setattr__(self, "_ids", ids)

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = MIN_COUNT) -> Vocabulary:
        """The tokens of ``captions`` that occur at least ``min_count`` times, in order of first occurrence."""
        counts: Counter[str] = Counter()
        for caption in captions:
            counts.update(tokenize(caption))  # Counter keeps first-occurrence order
        words = [token for token, count in counts.items() if count >= min_count and token not in SPECIAL_TOKENS]
        return cls((*SPECIAL_TOKENS, *words))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    @property
    def pad_index(self) -> int:
        return self._ids[PAD]

    @property
    def unk_index(self) -> int:
        return self._ids[UNK]

    @property
    def bos_index(self) -> int:
        return self._ids[BOS]

    @property
    def eos_index(self) -> int:
        return self._ids[EOS]

    def index(self, token: str) -> int:
        """The id of ``token``, or of ``<unk>`` for a token outside the vocabulary."""
        return self._ids.get(token, self.unk_index)

    def encode(self, caption: str | Sequence[str], length: int = MAX_LENGTH, add_bos: bool = False) -> list[int]:
        """``length`` ids: [``<bos>``,] the first tokens that fit, ``<eos>``, then ``<pad>``."""
        tokens = tokenize(caption) if isinstance(caption, str) else list(caption)
        room = length - 1 - int(add_bos)
        if room < 0:
            raise ValueError(f"length {length} leaves no room for <eos>")
        ids = [self.bos_index] if add_bos else []
        ids += [self.index(token) for token in tokens[:room]] + [self.eos_index]
        return ids + [self.pad_index] * (length - len(ids))

    def encode_batch(self, captions: Sequence[str], length: int = MAX_LENGTH, add_bos: bool = False) -> Tensor:
        """Ids of many captions, int64 ``(n, length)``."""
        rows = [self.encode(caption, length, add_bos) for caption in captions]
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), length)

    def decode(self, ids: Sequence[int] | Tensor) -> list[str]:
        """The tokens before the first ``<eos>``, without ``<bos>`` and ``<pad>``."""
        tokens = []
        for index in ids:
            token = self.tokens[int(index)]
            if token == EOS:
                break
            if token not in (BOS, PAD):
                tokens.append(token)
        return tokens

    def to_json(self) -> str:
        return json.dumps({"format": VOCABULARY_FORMAT, "version": 1, "tokens": list(self.tokens)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, source: str = "<string>") -> Vocabulary:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise VocabularyError(f"{source}: not valid JSON ({error})") from None
        if not isinstance(document, dict) or document.get("format") != VOCABULARY_FORMAT:
            raise VocabularyError(f"{source}: not an {VOCABULARY_FORMAT} file")
        tokens = document.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
            raise VocabularyError(f"{source}: 'tokens' must be a list of strings")
        return cls(tuple(tokens))

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (keep it next to a model's weights: ids mean nothing without it)."""
        atomic_write_text(path, self.to_json())  # never half a vocabulary, never a replaced special file

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        return cls.from_json(Path(path).read_text(encoding="utf-8"), str(path))
