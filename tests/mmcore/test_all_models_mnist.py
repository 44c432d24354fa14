"""Every registered fusion model learns MNIST-Split: its loss falls, and top→bottom generation is coherent.

Coherence is judged by an oracle: a logistic-regression digit classifier on whole 28×28 images (>85 %
test accuracy). A model sees the top half of a held-out digit, generates the bottom half, and the oracle
classifies the top half joined with the generated bottom. A random guess scores 0.1; a model whose
generated half carries the digit's identity scores far more.

The test is parametrised over :func:`mmcore.models.available_models`, so a newly registered model is
covered without editing this file. Sizes are tuned to stay well under 15 s per model on one core.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from mmcore.benchmarks_setup import mnist_split_modalities
from mmcore.data.mnist import MNIST_SPLIT_PARTS, MnistImages, join_rows, read_mnist_npz, split_rows
from mmcore.models import available_models, build_model

pytestmark = pytest.mark.data

N_TRAIN = 2_000
LATENT_DIM = 16
HIDDEN_DIMS = (128,)
BATCH_SIZE = 32
STEPS = 300
WINDOW = 20
N_HELD_OUT = 1_000
ORACLE_TRAIN, ORACLE_TEST = 20_000, 5_000


@pytest.fixture(scope="session")
def mnist(mnist_npz) -> MnistImages:
    """Real MNIST from ``real_data_path("mnist/mnist.npz")`` (tests/conftest.py); read once per session."""
    return read_mnist_npz(mnist_npz)


class Oracle:
    """A linear softmax classifier of whole digits, trained once per session."""

    def __init__(self, mnist: MnistImages) -> None:
        generator = torch.Generator().manual_seed(0)
        images = mnist.train_images[:ORACLE_TRAIN].reshape(-1, 784)
        labels = mnist.train_labels[:ORACLE_TRAIN]
        self.linear = torch.nn.Linear(784, 10)
        optimizer = torch.optim.Adam(self.linear.parameters(), lr=1e-2)
        for _ in range(3):
            order = torch.randperm(len(images), generator=generator)
            for start in range(0, len(images), 200):
                index = order[start : start + 200]
                loss = F.cross_entropy(self.linear(images[index]), labels[index])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        self.linear.requires_grad_(False)
        test_images = mnist.test_images[:ORACLE_TEST].reshape(-1, 784)
        self.test_accuracy = self.accuracy(test_images, mnist.test_labels[:ORACLE_TEST])

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        return float((self.linear(images.reshape(len(images), -1)).argmax(1) == labels).float().mean())


@pytest.fixture(scope="session")
def oracle(mnist) -> Oracle:
    with torch.random.fork_rng(devices=[]):
        return Oracle(mnist)


def test_oracle_is_accurate(oracle):
    assert oracle.test_accuracy > 0.85


@pytest.mark.parametrize("model_name", sorted(available_models()))
def test_model_learns_mnist_split_and_cross_generates(model_name, mnist, oracle, one_thread):
    assert oracle.test_accuracy > 0.85
    torch.manual_seed(0)
    train = split_rows(mnist.train_images[:N_TRAIN], MNIST_SPLIT_PARTS)
    model = build_model(model_name, mnist_split_modalities(LATENT_DIM, hidden_dims=HIDDEN_DIMS), LATENT_DIM)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(STEPS):
        index = torch.randint(0, N_TRAIN, (BATCH_SIZE,), generator=generator)
        output = model({name: values[index] for name, values in train.items()})
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(float(output.loss.detach()))
    first, last = sum(losses[:WINDOW]) / WINDOW, sum(losses[-WINDOW:]) / WINDOW
    assert last < 0.8 * first, f"{model_name}: loss {first:.1f} -> {last:.1f}"

    model.eval()
    held_out = mnist.test_images[ORACLE_TEST : ORACLE_TEST + N_HELD_OUT]
    labels = mnist.test_labels[ORACLE_TEST : ORACLE_TEST + N_HELD_OUT]
    top = split_rows(held_out, MNIST_SPLIT_PARTS)["top"]
    generated = model.cross_generate({"top": top}, sources=["top"], targets=["bottom"])["bottom"]
    assert generated.shape == (N_HELD_OUT, 392)
    assert bool(((generated >= 0) & (generated <= 1)).all())
    completed = join_rows({"top": top, "bottom": generated}, MNIST_SPLIT_PARTS)
    accuracy = oracle.accuracy(completed, labels)
    assert accuracy > 0.3, f"{model_name}: top→bottom oracle accuracy {accuracy:.3f} (chance 0.1)"
