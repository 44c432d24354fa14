"""Benchmark evaluations: the text oracle, the mixture prior's density, CUB's caption embeddings and CCA,
and the clear errors a grid gives when a benchmark's data is missing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from grid_helpers import tiny_grid, write_fake_mnist

from mmcore.benchmarking import EvaluationSettings, MissingBenchmarkDataError, OracleSource, run_grid
from mmcore.benchmarking.cub_features import SifEmbedding, caption_token_mask, read_word_vectors, sif_weights
from mmcore.benchmarking.evaluation import DigitNameClassifier, prepare_evaluation
from mmcore.benchmarking.evaluation_base import mixture_prior_log_density
from mmcore.benchmarks_setup import get_benchmark
from mmcore.data.cub import CubSplits, cub_data
from mmcore.data.dataset import MultimodalDataset
from mmcore.data.gathered import GatheredRows
from mmcore.data.loader import MultimodalLoader
from mmcore.data.mnist_svhn import digit_text_ids
from mmcore.data.text import Vocabulary
from mmcore.distributions import DiagonalGaussian
from mmcore.metrics import (
    coherence_by_subset_size,
    cross_coherence,
    cub_cca_coherence,
    joint_coherence,
    per_modality_classifiers,
)
from mmcore.metrics.oracles import OracleArchitecture, load_or_train_oracle
from mmcore.models import build_model


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks and data: more threads only contend
    yield
    torch.set_num_threads(threads)


def test_digit_name_classifier_reads_every_digit_and_rejects_garbage():
    labels = torch.arange(10).repeat(3)
    ids = digit_text_ids(labels, seed=1)  # names at random positions among spaces
    assert torch.equal(DigitNameClassifier()({"text": ids}), labels)
    garbage = torch.tensor([[15, 14, 5, 0, 20, 23, 15, 0], [0] * 8])  # "one two ", all spaces
    assert DigitNameClassifier()({"text": garbage}).tolist() == [-1, -1]


class _TwoComponentPrior:
    """A stand-in with MEME's duck-typed pseudo-sample prior: components N(0, 1) and N(2, 4) in one dimension."""

    latent_dim = 1

    def pseudo_sample_components(self) -> DiagonalGaussian:
        return DiagonalGaussian(torch.tensor([[[0.0]], [[2.0]]]), torch.tensor([[[0.0]], [[math.log(4.0)]]]))


def test_mixture_prior_density_is_the_equal_weight_mixture():
    z = torch.tensor([[[1.0]], [[-3.0]]])  # (samples=2, batch=1, latent=1)
    log_density = mixture_prior_log_density(_TwoComponentPrior())(z)

    def normal(x, mean, variance):
        return math.exp(-0.5 * (x - mean) ** 2 / variance) / math.sqrt(2 * math.pi * variance)

    expected = [math.log(0.5 * normal(x, 0.0, 1.0) + 0.5 * normal(x, 2.0, 4.0)) for x in (1.0, -3.0)]
    assert log_density.shape == (2, 1)
    assert torch.allclose(log_density.flatten(), torch.tensor(expected), atol=1e-6)
    svae = build_model("svae", get_benchmark("mnist-split").modalities(2, hidden_dims=(4,)), 2)
    assert mixture_prior_log_density(svae) is None  # N(0, I) prior: the model's own log_prob is right


# ------------------------------------------------------------------------------------------------ CUB

COLOURS = ("red", "blue", "green", "grey")


def _write_fake_cub(root, n_train_images=4, n_test_images=2, feature_dim=6, seed=0):
    """A CUB folder with captions and feature files only (image_source="features")."""
    rng = np.random.default_rng(seed)
    (root / "cub" / "features").mkdir(parents=True)
    for split, count in (("train", n_train_images), ("test", n_test_images)):
        lines = [f"a {COLOURS[image % 4]} bird with {k % 3} spots ." for image in range(count) for k in range(10)]
        name = "text_trainvalclasses.txt" if split == "train" else "text_testclasses.txt"
        (root / "cub" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        np.save(root / "cub" / "features" / f"{split}.npy", rng.normal(size=(count, feature_dim)).astype(np.float32))
    return root


def _write_word_vectors(path, vocabulary, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    tokens = [token for token in vocabulary.tokens if not token.startswith("<")] + ["unseen"]
    lines = [f"{len(tokens)} {dim}"] + [
        f"{token} " + " ".join(f"{v:.6f}" for v in rng.normal(size=dim)) for token in tokens
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_sif_embedding_matches_a_hand_computation():
    vocabulary = Vocabulary.build(["a red bird", "a bird"], min_count=1)  # ids: a=4, red=5, bird=6
    vectors = torch.zeros(len(vocabulary), 2)
    vectors[4], vectors[5], vectors[6] = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0]), torch.tensor([3.0, 1.0])
    train = vocabulary.encode_batch(["a red bird", "a bird"], length=6)
    assert caption_token_mask(train, vocabulary).sum(1).tolist() == [3, 2]  # <eos> and <pad> are not words
    weights = sif_weights(train, vocabulary)
    p = {"a": 2 / 5, "red": 1 / 5, "bird": 2 / 5}  # word shares of the 5 training words
    for token, share in p.items():
        assert weights[vocabulary.index(token)] == pytest.approx(1e-3 / (1e-3 + share))
    embed = SifEmbedding(vectors, vocabulary, train)
    w = {token: 1e-3 / (1e-3 + share) for token, share in p.items()}
    raw = torch.tensor(
        [
            [(w["a"] * 1 + w["red"] * 0 + w["bird"] * 3) / 3, (w["a"] * 0 + w["red"] * 2 + w["bird"] * 1) / 3],
            [(w["a"] * 1 + w["bird"] * 3) / 2, (w["a"] * 0 + w["bird"] * 1) / 2],
        ]
    )
    assert torch.allclose(embed.weighted_average(train), raw, atol=1e-6)
    direction = torch.linalg.svd(raw.double()).Vh[0].float()
    expected = raw - (raw @ direction)[:, None] * direction
    assert torch.allclose(embed(train), expected, atol=1e-6)
    assert torch.allclose(embed(train) @ direction, torch.zeros(2), atol=1e-6)  # the common direction is gone


def test_word_vectors_fill_the_vocabulary_and_bad_lines_are_named(tmp_path):
    vocabulary = Vocabulary.build(["a red bird"], min_count=1)
    path = tmp_path / "vectors.vec"
    path.write_text("2 3\nred 1 2 3\nzebra 4 5 6\n", encoding="utf-8")
    vectors = read_word_vectors(path, vocabulary)
    assert vectors.shape == (len(vocabulary), 3)
    assert vectors[vocabulary.index("red")].tolist() == [1.0, 2.0, 3.0]
    assert vectors[vocabulary.index("a")].abs().sum() == 0  # no vector given: contributes nothing
    path.write_text("red 1 2 3\nbird 1 x 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vectors.vec, line 2: non-numeric value after 'bird'"):
        read_word_vectors(path, vocabulary)
    with pytest.raises(MissingBenchmarkDataError, match="word-vector file .*missing.vec does not exist"):
        read_word_vectors(tmp_path / "missing.vec", vocabulary)


def test_cub_cca_evaluation_scores_generated_pairs(tmp_path):
    root = _write_fake_cub(tmp_path / "data")
    splits = cub_data(root, image_source="features", validation_size=1, verify=False, min_count=1)
    vectors = _write_word_vectors(tmp_path / "vectors.vec", splits.vocabulary)
    evaluation = prepare_evaluation(
        "cub", splits, OracleSource(tmp_path / "oracles"), data_dir=root, options={"word_vectors": vectors}
    )
    torch.manual_seed(0)
    modalities = get_benchmark("cub").modalities(3, data=splits, network="mlp", hidden_dims=(8,))
    model = build_model("mmvae", modalities, 3)
    results = evaluation.evaluate(model, splits, EvaluationSettings(batch_size=7, latent_classification=False))
    assert set(results) == {
        "cca/train_first_correlation",
        "cca/ground_truth",
        "cca/image_to_caption",
        "cca/caption_to_image",
        "cca/joint",
    }
    assert all(-1.0 <= value <= 1.0 for key, value in results.items() if key != "cca/train_first_correlation")
    # The ground truth does not depend on the model: the test pairs scored by CCA fitted on the training pairs.
    embed = evaluation.embed
    train_images, test_images = splits.train.data["image"][:], splits.test.data["image"][:]
    reference = cub_cca_coherence(
        train_images.numpy(),
        embed(splits.train.data["caption"]).numpy(),
        {"ground_truth": (test_images.numpy(), embed(splits.test.data["caption"]).numpy())},
        n_components=5,
    )
    assert results["cca/ground_truth"] == pytest.approx(reference["cca/ground_truth"], abs=1e-9)
    assert results["cca/train_first_correlation"] == pytest.approx(reference["cca/train_first_correlation"])


def test_cub_without_features_or_word_vectors_fails_before_training(tmp_path):
    root = _write_fake_cub(tmp_path / "data")
    config = tiny_grid(
        root,
        tmp_path / "grid",
        benchmark="cub",
        validation_size=1,
        load_options={"image_source": "features", "min_count": 1},
    )
    with pytest.raises(MissingBenchmarkDataError, match="benchmark 'cub' cannot run: .*--word-vectors FILE"):
        run_grid(config, log=lambda line: None)
    assert not (tmp_path / "grid" / "runs").exists()

    vocabulary = Vocabulary.build(["a bird"], min_count=1)
    pixels = GatheredRows(torch.zeros(1, 3 * 64 * 64, dtype=torch.uint8), torch.zeros(10, dtype=torch.long), 255.0)
    dataset = MultimodalDataset({"image": pixels, "caption": vocabulary.encode_batch(["a bird"] * 10)})  # type: ignore[dict-item]
    pixel_splits = CubSplits(dataset, dataset, dataset, vocabulary=vocabulary)
    with pytest.raises(MissingBenchmarkDataError, match="image features, not pixels.*--image-source features"):
        prepare_evaluation("cub", pixel_splits, OracleSource(tmp_path / "oracles"), options={"word_vectors": "x"})


# ------------------------------------------------------------------------------------------------ missing data


def test_missing_mnist_is_named(tmp_path):
    with pytest.raises(MissingBenchmarkDataError, match=r"'mnist-split' cannot run: mnist/mnist.npz not found"):
        run_grid(tiny_grid(tmp_path, tmp_path / "grid"), log=lambda line: None)


def test_missing_svhn_is_named_before_any_training(tmp_path):
    root = write_fake_mnist(tmp_path / "data")
    config = tiny_grid(root, tmp_path / "grid", benchmark="mnist-svhn")
    with pytest.raises(MissingBenchmarkDataError, match=r"svhn/train_32x32.mat not found .*data_manifests/README.md"):
        run_grid(config, log=lambda line: None)
    assert not (tmp_path / "grid" / "runs").exists()


def test_polymnist_without_backgrounds_points_to_the_procedural_variant(tmp_path):
    root = write_fake_mnist(tmp_path / "data")
    with pytest.raises(MissingBenchmarkDataError, match="background images.*polymnist-procedural"):
        run_grid(tiny_grid(root, tmp_path / "grid", benchmark="polymnist"), log=lambda line: None)


# ------------------------------------------------------------------------------------------------ wiring


def _write_fake_svhn(root, n_train=60, n_test=30, seed=0):
    """Official-layout SVHN .mat files: X (32, 32, 3, n) uint8, y in 1..10 (10 = digit 0)."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    (root / "svhn").mkdir(parents=True, exist_ok=True)
    for split, count in (("train", n_train), ("test", n_test)):
        labels = np.arange(count) % 10
        savemat(
            root / "svhn" / f"{split}_32x32.mat",
            {
                "X": rng.integers(0, 256, (32, 32, 3, count), dtype=np.uint8),
                "y": np.where(labels == 0, 10, labels).reshape(-1, 1).astype(np.uint8),
            },
        )


def test_polymnist_evaluation_is_coherence_by_subset_size_and_joint_coherence(tmp_path):
    """The evaluation's numbers are exactly those of the metric functions called on the cached oracles."""
    root = write_fake_mnist(tmp_path / "data")
    splits = get_benchmark("polymnist-procedural").load(root, validation_size=20, verify=False)
    source = OracleSource(tmp_path / "oracles")
    evaluation = prepare_evaluation("polymnist-procedural", splits, source, data_dir=root, verify=False)
    assert evaluation.headline_metrics == tuple(f"coherence/subset_size_{k}" for k in (1, 2, 3, 4)) + (
        "joint_coherence",
    )
    torch.manual_seed(0)
    model = build_model(
        "mopoe", get_benchmark("polymnist-procedural").modalities(3, network="mlp", hidden_dims=(8,)), 3
    )
    settings = EvaluationSettings(batch_size=16, latent_classification=False, joint_coherence_samples=64)
    results = evaluation.evaluate(model, splits, settings)

    oracles = {}
    for name in splits.train.names:  # read back from the cache the evaluation wrote
        cached = load_or_train_oracle(
            source.cache_dir / f"polymnist-procedural-{name}-oracle.safetensors",
            splits.train.data[name][:],
            splits.train.labels,
            architecture=OracleArchitecture(image_shape=(3, 28, 28)),
        )
        assert cached.from_cache
        oracles[name] = cached.classifier
    classifiers = per_modality_classifiers(oracles)
    expected = coherence_by_subset_size(model, MultimodalLoader(splits.test, 16), classifiers, seed=0)
    expected.update(joint_coherence(model, 64, classifiers, seed=0))
    assert results == expected


def test_mnist_svhn_text_evaluation_covers_every_ordered_pair(tmp_path):
    root = write_fake_mnist(tmp_path / "data")
    _write_fake_svhn(root)
    splits = get_benchmark("mnist-svhn-text").load(root, validation_size=20, verify=False, pairs_per_instance=2)
    evaluation = prepare_evaluation(
        "mnist-svhn-text", splits, OracleSource(tmp_path / "oracles"), data_dir=root, verify=False
    )
    pairs = [
        ("mnist", "svhn"),
        ("mnist", "text"),
        ("svhn", "mnist"),
        ("svhn", "text"),
        ("text", "mnist"),
        ("text", "svhn"),
    ]
    assert evaluation.headline_metrics == tuple(f"cross_coherence/{a}->{b}" for a, b in pairs) + ("joint_coherence",)
    assert evaluation.oracle_accuracies["text"] == 1.0
    torch.manual_seed(0)
    model = build_model("mmvae", get_benchmark("mnist-svhn-text").modalities(3, network="mlp", hidden_dims=(8,)), 3)
    results = evaluation.evaluate(model, splits, EvaluationSettings(batch_size=32, joint_coherence_samples=32))
    assert {"latent_accuracy/mnist+svhn+text", "latent_accuracy/text"} <= set(results)
    loader = MultimodalLoader(splits.test, 32)
    direct = cross_coherence(model, loader, "mnist", "text", DigitNameClassifier(), seed=0)
    assert results["cross_coherence/mnist->text"] == direct["cross_coherence/mnist->text"]
