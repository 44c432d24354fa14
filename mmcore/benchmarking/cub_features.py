"""CUB's CCA coherence inside a grid: caption embeddings from the user's word vectors, image features as stored.

MMVAE scores CUB models with CCA on fixed features (:mod:`mmcore.metrics.cub`): images as ResNet-101
features (the ``cub/features/{train,test}.npy`` files of :mod:`mmcore.data.cub`, loaded with
``image_source="features"``, so that generated "images" are features already) and captions as
SIF-weighted averages of FastText word vectors (Arora, Liang & Ma 2017): weight a / (a + p(w)) with
a = 10⁻³ and p(w) the token's frequency in the training captions, then the projection on the first
singular vector of the training embeddings removed. Both come from pretrained networks that this package
does not include, so the user supplies both; without them the evaluation stops with a
:class:`~mmcore.benchmarking.errors.MissingBenchmarkDataError` before training.

Word vectors are read from a text file in the FastText ``.vec`` layout: an optional header line
``<count> <dimension>``, then one token and its values per line. Vocabulary tokens without a vector
contribute nothing to a caption's embedding.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from mmcore.benchmarking.errors import MissingBenchmarkDataError
from mmcore.benchmarking.evaluation_base import BenchmarkEvaluation, EvaluationSettings, evaluation_loader
from mmcore.data.splits import DataSplits
from mmcore.data.text import EOS, SPECIAL_TOKENS, Vocabulary
from mmcore.metrics import CUB_CCA_COMPONENTS, cub_cca_coherence
from mmcore.metrics._evaluation import evaluating, model_device, seeded
from mmcore.models.base import MultimodalVAE

SIF_A = 1e-3
"""The SIF smoothing constant a."""


class WordVectorFormatError(ValueError):
    """A word-vector file line is not a token followed by the right number of values."""


def read_word_vectors(path: str | Path, vocabulary: Vocabulary) -> Tensor:
    """Vectors ``(len(vocabulary), D)`` for the vocabulary's tokens from a ``.vec`` file; zeros where none is given."""
    path = Path(path)
    if not path.is_file():
        raise MissingBenchmarkDataError("cub", f"word-vector file {path} does not exist")
    vectors: Tensor | None = None
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.rstrip().split(" ")
            if number == 1 and len(fields) == 2 and all(field.isdigit() for field in fields):
                continue  # the "<count> <dimension>" header
            if len(fields) < 2:
                raise WordVectorFormatError(f"{path}, line {number}: expected a token and its values")
            try:
                values = [float(value) for value in fields[1:]]
            except ValueError:
                raise WordVectorFormatError(f"{path}, line {number}: non-numeric value after {fields[0]!r}") from None
            if vectors is None:
                vectors = torch.zeros(len(vocabulary), len(values))
            if len(values) != vectors.shape[1]:
                raise WordVectorFormatError(
                    f"{path}, line {number}: {len(values)} values, earlier lines have {vectors.shape[1]}"
                )
            if fields[0] in vocabulary:
                vectors[vocabulary.index(fields[0])] = torch.tensor(values)
    if vectors is None:
        raise WordVectorFormatError(f"{path}: no word vectors in the file")
    return vectors


def caption_token_mask(ids: Tensor, vocabulary: Vocabulary) -> Tensor:
    """Which positions hold words: before the first ``<eos>`` and not a special token."""
    ids = ids.long()
    before_end = torch.cumsum((ids == vocabulary.index(EOS)).long(), dim=-1) == 0
    special = torch.zeros_like(ids, dtype=torch.bool)
    for token in SPECIAL_TOKENS:
        special |= ids == vocabulary.index(token)
    return before_end & ~special


def sif_weights(train_ids: Tensor, vocabulary: Vocabulary, a: float = SIF_A) -> Tensor:
    """a / (a + p(w)) for every vocabulary token, p(w) its share of the training captions' words."""
    mask = caption_token_mask(train_ids, vocabulary)
    counts = torch.bincount(train_ids.long()[mask], minlength=len(vocabulary)).double()
    probabilities = counts / counts.sum().clamp_min(1.0)
    return (a / (a + probabilities)).float()


class SifEmbedding:
    """Caption ids -> SIF embeddings, with the first singular direction of the training embeddings removed."""

    def __init__(self, vectors: Tensor, vocabulary: Vocabulary, train_ids: Tensor) -> None:
        self.vectors = vectors
        self.vocabulary = vocabulary
        self.weights = sif_weights(train_ids, vocabulary)
        raw = self.weighted_average(train_ids)
        self.direction = torch.linalg.svd(raw.double(), full_matrices=False).Vh[0].float()

    def weighted_average(self, ids: Tensor) -> Tensor:
        mask = caption_token_mask(ids, self.vocabulary).float()
        weights = self.weights[ids.long()] * mask
        summed = (weights.unsqueeze(-1) * self.vectors[ids.long()]).sum(-2)
        return summed / mask.sum(-1, keepdim=True).clamp_min(1.0)

    def __call__(self, ids: Tensor) -> Tensor:
        raw = self.weighted_average(ids.cpu())
        return raw - (raw @ self.direction).unsqueeze(-1) * self.direction


class CubEvaluation(BenchmarkEvaluation):
    """MMVAE's CCA coherence: ground truth, image→caption, caption→image and joint generation."""

    headline_metrics = ("cca/image_to_caption", "cca/caption_to_image", "cca/joint")
    latent_subsets = ()  # test classes are disjoint from training classes: a class probe has nothing to learn

    def __init__(self, embed: SifEmbedding) -> None:
        super().__init__()
        self.embed = embed

    def specific_metrics(
        self, model: MultimodalVAE, splits: DataSplits, settings: EvaluationSettings
    ) -> dict[str, float]:
        train_images, train_captions = _all_rows(splits.train, "image"), _all_rows(splits.train, "caption")
        pairs: dict[str, list[Tensor]] = {key: [] for key in ("images", "captions", "to_caption", "to_image")}
        device = model_device(model)
        with evaluating(model), seeded(settings.seed, device):
            for batch in evaluation_loader(splits.test, settings.batch_size):
                batch = batch.to(device)
                images, captions = batch.data["image"], batch.data["caption"]
                pairs["images"].append(images.cpu())
                pairs["captions"].append(captions.cpu())
                from_image = model.posterior({"image": images}).rsample()
                from_caption = model.posterior({"caption": captions}).rsample()
                pairs["to_caption"].append(model.decode_mean(from_image, ["caption"])["caption"].cpu())
                pairs["to_image"].append(model.decode_mean(from_caption, ["image"])["image"].cpu())
            generated = model.generate(len(splits.test))
        test = {key: torch.cat(values) for key, values in pairs.items()}
        caption_features = self.embed(test["captions"])
        scored = {
            "ground_truth": (test["images"], caption_features),
            "image_to_caption": (test["images"], self.embed(test["to_caption"])),
            "caption_to_image": (test["to_image"], caption_features),
            "joint": (generated["image"].cpu(), self.embed(generated["caption"].cpu())),
        }
        numpy_pairs = {name: (images.numpy(), captions.numpy()) for name, (images, captions) in scored.items()}
        # MMVAE's 40 components, or fewer when the features have fewer dimensions.
        n_components = min(CUB_CCA_COMPONENTS, train_images.shape[-1], caption_features.shape[-1])
        return cub_cca_coherence(
            train_images.numpy(), self.embed(train_captions).numpy(), numpy_pairs, n_components=n_components
        )


def _all_rows(dataset, name: str) -> Tensor:
    values = dataset.data[name]
    return values if isinstance(values, Tensor) else values[:]


def prepare_cub_evaluation(splits: DataSplits, word_vectors: str | Path | None) -> CubEvaluation:
    """The CCA evaluation, or a :class:`MissingBenchmarkDataError` saying which input is missing."""
    images = splits.train.data["image"]
    if not getattr(images, "base", images).dtype.is_floating_point:
        raise MissingBenchmarkDataError(
            "cub",
            "CCA coherence compares image features, not pixels: put ResNet-101 features in "
            "cub/features/{train,test}.npy and load them with image_source='features' (--image-source features)",
        )
    if word_vectors is None:
        raise MissingBenchmarkDataError(
            "cub",
            "CCA coherence embeds captions with word vectors: pass word_vectors=FILE (--word-vectors FILE), "
            "FastText vectors trained on the training captions in the .vec text format",
        )
    vocabulary = getattr(splits, "vocabulary", None)
    if vocabulary is None:
        raise ValueError("CUB evaluation needs the vocabulary of the loaded captions (CubSplits from cub_data)")
    vectors = read_word_vectors(word_vectors, vocabulary)
    return CubEvaluation(SifEmbedding(vectors, vocabulary, _all_rows(splits.train, "caption")))
