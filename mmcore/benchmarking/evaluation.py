"""What each benchmark reports after training: the seed papers' metrics, computed with :mod:`mmcore.metrics`.

An evaluation is prepared once per grid (its oracle classifiers are trained or read from a cache, which
is the slow part) and then called on every trained model. It returns a flat ``dict[str, float]`` and names
its *headline metrics*, the ones the accuracy-vs-supervision plot shows.

* ``mnist-split`` / ``mnist-split-3``: the seed's accuracies (Kutuzova et al. 2021, Table 1): the whole
  digit decoded from every subset of the bands and judged by the MNIST oracle (:func:`mnist_split_accuracy`);
  headline: from all bands and from each single band.
* ``polymnist`` / ``polymnist-procedural``: cross coherence by number of input modalities and joint
  coherence (Sutter et al. 2021), one oracle per modality.
* ``mnist-svhn`` / ``mnist-svhn-text``: cross coherence both ways (every ordered pair with text), joint
  coherence; the text "oracle" reads the digit's name off the string, which is exact.
* ``cub``: MMVAE's CCA coherence on image features and caption embeddings (:mod:`mmcore.benchmarking.cub_features`).

Every evaluation adds, when the settings ask for them, linear latent classification (a probe fitted on the
posterior means of the fully paired training split, scored on the test split) and the IWAE test
log-likelihood with K importance samples (:class:`mmcore.benchmarking.evaluation_base.BenchmarkEvaluation`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from mmcore.benchmarking.cub_features import prepare_cub_evaluation
from mmcore.benchmarking.evaluation_base import BenchmarkEvaluation, EvaluationSettings, evaluation_loader
from mmcore.data.dataset import MultimodalDataset
from mmcore.data.mnist import MNIST_SPLIT3_PARTS, MNIST_SPLIT_PARTS, load_mnist
from mmcore.data.mnist_svhn import DIGIT_NAMES, TEXT_ALPHABET, TEXT_MODALITY, load_svhn
from mmcore.data.polymnist import IMAGE_SHAPE as POLYMNIST_IMAGE_SHAPE
from mmcore.data.splits import DataSplits
from mmcore.metrics import (
    Classify,
    OracleArchitecture,
    ViewClassifier,
    coherence_by_subset_size,
    cross_coherence,
    joined_rows_view,
    joint_coherence,
    load_or_train_oracle,
    mnist_split_accuracy,
    modality_view,
)
from mmcore.metrics.oracles import CachedOracle
from mmcore.models.base import MultimodalVAE


@dataclass(frozen=True)
class OracleSource:
    """Where the oracles are cached and on which device they are trained."""

    cache_dir: Path
    device: str = "cpu"


def subset_label(names: Sequence[str]) -> str:
    """A subset of modalities as the metrics name it: ``top+bottom``."""
    return "+".join(names)


def _train_oracle(
    source: OracleSource,
    key: str,
    images: Tensor,
    labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    image_shape: Sequence[int],
) -> CachedOracle:
    architecture = OracleArchitecture(image_shape=tuple(image_shape))
    return load_or_train_oracle(
        source.cache_dir / f"{key}-oracle.safetensors",
        images,
        labels,
        test_images,
        test_labels,
        architecture=architecture,
        device=source.device,
    )


# --------------------------------------------------------------------------------------------- MNIST-Split


class MnistSplitEvaluation(BenchmarkEvaluation):
    """The seed's accuracies from every subset of bands; probes on all bands and on each band alone."""

    def __init__(self, parts: Mapping[str, tuple[int, int]], oracle: CachedOracle) -> None:
        super().__init__()
        names = tuple(parts)
        self.classify = ViewClassifier(oracle.classifier, joined_rows_view(parts))
        self.oracle_accuracies = {"mnist": oracle.test_accuracy}
        self.headline_metrics = (f"accuracy/from_{subset_label(names)}",) + tuple(
            f"accuracy/from_{name}" for name in names
        )
        self.latent_subsets = (names,) + tuple((name,) for name in names)

    def specific_metrics(
        self, model: MultimodalVAE, splits: DataSplits, settings: EvaluationSettings
    ) -> dict[str, float]:
        loader = evaluation_loader(splits.test, settings.batch_size)
        return mnist_split_accuracy(model, loader, self.classify, seed=settings.seed)


def mnist_oracle(source: OracleSource, data_dir: Path | None, verify: bool) -> CachedOracle:
    """The whole-digit MNIST oracle, trained on all 60,000 training images (the seed's classifier saw them all)."""
    mnist = load_mnist(data_dir, verify=verify)
    return _train_oracle(
        source, "mnist", mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels, (1, 28, 28)
    )


# --------------------------------------------------------------------------------------------- PolyMNIST


def _materialised(dataset: MultimodalDataset, name: str) -> Tensor:
    values = dataset.data[name]
    return values[:] if not isinstance(values, Tensor) else values


class PolyMnistEvaluation(BenchmarkEvaluation):
    """Coherence by number of input modalities, joint coherence; probes on all modalities and on m0."""

    def __init__(self, oracles: Mapping[str, CachedOracle]) -> None:
        super().__init__()
        names = tuple(oracles)
        self.classifiers: dict[str, Classify] = {
            name: ViewClassifier(oracle.classifier, modality_view(name)) for name, oracle in oracles.items()
        }
        self.oracle_accuracies = {name: oracle.test_accuracy for name, oracle in oracles.items()}
        self.headline_metrics = tuple(f"coherence/subset_size_{size}" for size in range(1, len(names))) + (
            "joint_coherence",
        )
        self.latent_subsets = (names, (names[0],))

    def specific_metrics(
        self, model: MultimodalVAE, splits: DataSplits, settings: EvaluationSettings
    ) -> dict[str, float]:
        loader = evaluation_loader(splits.test, settings.batch_size)
        results = coherence_by_subset_size(model, loader, self.classifiers, seed=settings.seed)
        results.update(joint_coherence(model, settings.joint_coherence_samples, self.classifiers, seed=settings.seed))
        return results


def polymnist_oracles(source: OracleSource, splits: DataSplits, key: str) -> dict[str, CachedOracle]:
    """One oracle per modality, trained on the benchmark's own training images of that modality."""
    oracles = {}
    for name in splits.train.names:
        oracles[name] = _train_oracle(
            source,
            f"{key}-{name}",
            _materialised(splits.train, name),
            splits.train.labels,
            _materialised(splits.test, name),
            splits.test.labels,
            POLYMNIST_IMAGE_SHAPE,
        )
    return oracles


# --------------------------------------------------------------------------------------------- MNIST-SVHN


@dataclass(frozen=True)
class DigitNameClassifier:
    """Reads the digit off a MNIST-SVHN-Text string: the class whose English name the string holds, else -1.

    Exact on real strings (each holds one digit name between spaces), so it is the text modality's oracle.
    """

    modality: str = TEXT_MODALITY
    names: tuple[str, ...] = field(default=DIGIT_NAMES)

    def __call__(self, data: Mapping[str, Tensor]) -> Tensor:
        ids = data[self.modality].long().cpu()
        predictions = []
        for row in ids:
            word = "".join(TEXT_ALPHABET[int(index)] for index in row).strip()
            predictions.append(self.names.index(word) if word in self.names else -1)
        return torch.tensor(predictions, dtype=torch.long)


class MnistSvhnEvaluation(BenchmarkEvaluation):
    """Cross coherence between every ordered pair of modalities, joint coherence; probes on each modality."""

    def __init__(self, classifiers: Mapping[str, Classify], oracle_accuracies: Mapping[str, float | None]) -> None:
        super().__init__()
        self.classifiers = dict(classifiers)
        self.oracle_accuracies = dict(oracle_accuracies)
        names = tuple(self.classifiers)
        self.pairs = [(source, target) for source in names for target in names if source != target]
        self.headline_metrics = tuple(f"cross_coherence/{source}->{target}" for source, target in self.pairs) + (
            "joint_coherence",
        )
        self.latent_subsets = (names,) + tuple((name,) for name in names)

    def specific_metrics(
        self, model: MultimodalVAE, splits: DataSplits, settings: EvaluationSettings
    ) -> dict[str, float]:
        loader = evaluation_loader(splits.test, settings.batch_size)
        results: dict[str, float] = {}
        for source, target in self.pairs:
            results.update(cross_coherence(model, loader, source, target, self.classifiers[target], seed=settings.seed))
        results.update(joint_coherence(model, settings.joint_coherence_samples, self.classifiers, seed=settings.seed))
        return results


def mnist_svhn_classifiers(
    source: OracleSource, data_dir: Path | None, verify: bool, with_text: bool
) -> tuple[dict[str, Classify], dict[str, float | None]]:
    """Oracles for MNIST (all 60,000 training images) and SVHN (all 73,257), and the exact text reader."""
    mnist = load_mnist(data_dir, verify=verify)
    svhn_train, svhn_test = load_svhn(data_dir, "train", verify), load_svhn(data_dir, "test", verify)
    mnist_oracle_ = _train_oracle(
        source, "mnist", mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels, (1, 28, 28)
    )
    svhn_oracle = _train_oracle(
        source,
        "svhn",
        svhn_train.images.float() / 255.0,
        svhn_train.labels,
        svhn_test.images.float() / 255.0,
        svhn_test.labels,
        (3, 32, 32),
    )
    classifiers: dict[str, Classify] = {
        "mnist": ViewClassifier(mnist_oracle_.classifier, modality_view("mnist")),
        "svhn": ViewClassifier(svhn_oracle.classifier, modality_view("svhn")),
    }
    accuracies: dict[str, float | None] = {"mnist": mnist_oracle_.test_accuracy, "svhn": svhn_oracle.test_accuracy}
    if with_text:
        classifiers[TEXT_MODALITY] = DigitNameClassifier()
        accuracies[TEXT_MODALITY] = 1.0
    return classifiers, accuracies


# --------------------------------------------------------------------------------------------- preparation


@dataclass(frozen=True)
class EvaluationInputs:
    """What preparing an evaluation may read: the loaded splits, the oracle cache, the data root, extra options."""

    benchmark: str
    splits: DataSplits
    source: OracleSource
    data_dir: Path | None
    verify: bool
    options: Mapping[str, object]


def _mnist_split(inputs: EvaluationInputs) -> BenchmarkEvaluation:
    parts = MNIST_SPLIT_PARTS if inputs.benchmark == "mnist-split" else MNIST_SPLIT3_PARTS
    return MnistSplitEvaluation(parts, mnist_oracle(inputs.source, inputs.data_dir, inputs.verify))


def _polymnist(inputs: EvaluationInputs) -> BenchmarkEvaluation:
    return PolyMnistEvaluation(polymnist_oracles(inputs.source, inputs.splits, inputs.benchmark))


def _mnist_svhn(inputs: EvaluationInputs) -> BenchmarkEvaluation:
    with_text = inputs.benchmark == "mnist-svhn-text"
    classifiers, accuracies = mnist_svhn_classifiers(inputs.source, inputs.data_dir, inputs.verify, with_text)
    return MnistSvhnEvaluation(classifiers, accuracies)


def _cub(inputs: EvaluationInputs) -> BenchmarkEvaluation:
    return prepare_cub_evaluation(inputs.splits, inputs.options.get("word_vectors"))  # type: ignore[arg-type]


EVALUATIONS: dict[str, Callable[[EvaluationInputs], BenchmarkEvaluation]] = {
    "mnist-split": _mnist_split,
    "mnist-split-3": _mnist_split,
    "polymnist": _polymnist,
    "polymnist-procedural": _polymnist,
    "mnist-svhn": _mnist_svhn,
    "mnist-svhn-text": _mnist_svhn,
    "cub": _cub,
}
"""How each registered benchmark prepares its evaluation."""


def prepare_evaluation(
    benchmark: str,
    splits: DataSplits,
    source: OracleSource,
    *,
    data_dir: Path | None = None,
    verify: bool = True,
    options: Mapping[str, object] | None = None,
) -> BenchmarkEvaluation:
    """The evaluation of ``benchmark``, with its oracles trained (or read from ``source.cache_dir``).

    ``options`` holds evaluation inputs some benchmarks need (CUB: ``word_vectors``, a path). Raises
    :class:`~mmcore.benchmarking.errors.MissingBenchmarkDataError` when such an input is missing, before
    any model is trained.
    """
    try:
        prepare = EVALUATIONS[benchmark]
    except KeyError:
        raise KeyError(f"no evaluation is defined for benchmark {benchmark!r}; known: {sorted(EVALUATIONS)}") from None
    source.cache_dir.mkdir(parents=True, exist_ok=True)
    return prepare(EvaluationInputs(benchmark, splits, source, data_dir, verify, dict(options or {})))
