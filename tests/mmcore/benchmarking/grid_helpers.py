"""Small builders shared by the benchmarking tests: a fake MNIST archive and a tiny grid configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmcore.benchmarking import Budget, GridConfig, Protocol

N_TRAIN, N_TEST, VALIDATION = 120, 40, 20
TINY_PROTOCOL = Protocol(epochs=1, batch_size=32, latent_dim=4, network="mlp", hidden_dims=(16,), source="tests")
TEST_BUDGET = Budget("test", epoch_scale=1.0, likelihood_samples=3, latent_classification=True)


def write_fake_mnist(root: Path, n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = 0) -> Path:
    """A data root whose mnist/mnist.npz has MNIST's layout: digit k is a bright column band at 2k..2k+7, plus noise.

    The band crosses every row, so every MNIST-Split part shows the class (an oracle can learn it); the file
    fails sha256 verification, so tests pass ``verify=False``.
    """
    rng = np.random.default_rng(seed)

    def images(labels: np.ndarray) -> np.ndarray:
        pixels = rng.integers(0, 60, (len(labels), 28, 28), dtype=np.uint8)
        for index, label in enumerate(labels):
            pixels[index, :, 2 * label : 2 * label + 8] = 230
        return pixels

    train_labels = rng.integers(0, 10, n_train).astype(np.uint8)
    test_labels = rng.integers(0, 10, n_test).astype(np.uint8)
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    np.savez(
        root / "mnist" / "mnist.npz",
        x_train=images(train_labels),
        y_train=train_labels,
        x_test=images(test_labels),
        y_test=test_labels,
    )
    return root


def tiny_grid(data_root: Path, output_dir: Path, **changes) -> GridConfig:
    """Two PoE models at two supervision levels, one epoch of a 16-unit MLP on the fake MNIST."""
    values = {
        "benchmark": "mnist-split",
        "models": ("svae", "vaevae"),
        "supervision_levels": (1.0, 0.5),
        "output_dir": output_dir,
        "budget": TEST_BUDGET,
        "protocol": TINY_PROTOCOL,
        "validation_size": VALIDATION,
        "data_dir": data_root,
        "verify": False,
        "evaluation_batch_size": 16,
    }
    values.update(changes)
    return GridConfig(**values)
