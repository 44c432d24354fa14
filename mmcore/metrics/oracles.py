"""Oracle classifiers: small CNNs that judge whether generated images show the right digit.

Coherence metrics (Shi et al. 2019; Sutter et al. 2021) ask a classifier trained on real data which class a
generated image shows. That classifier, the *oracle*, must be the same for every model compared, so it is
trained once per image "view" with a fixed seed and cached:

* ``<name>.safetensors``: the weights (plain tensors, loading executes no code);
* ``<name>.json``: architecture, training settings, the sha256 of the training data, the sha256 of the weights
  file, and the test accuracy.

The cache is reused only when the architecture, the training settings and the training data's sha256 all
match and the weights file is the one the JSON describes; otherwise the oracle is retrained and both files
are rewritten (each atomically, weights first, so an interrupted write leaves a mismatch that retrains).

A *view* maps a model's modalities to the classifier's input: :func:`modality_view` takes one image modality
(PolyMNIST, MNIST, SVHN), :func:`joined_rows_view` stacks the bands of MNIST-Split back into a 28×28 digit.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmcore.atomic import atomic_output, atomic_write_text
from mmcore.data.mnist import IMAGE_SIDE, join_rows

ORACLE_FORMAT = "mmcore-oracle/1"
"""Written into every oracle JSON; a file with another format is not trusted."""

View = Callable[[Mapping[str, Tensor]], Tensor]
"""Maps generated or real modalities (name -> tensor) to a batch of classifier inputs."""
Classify = Callable[[Mapping[str, Tensor]], Tensor]
"""Maps modalities (name -> tensor) to predicted class labels ``(batch,)``: what coherence metrics call."""


class OracleCacheError(RuntimeError):
    """An oracle cache file exists but cannot be read (not JSON, wrong format, unreadable weights)."""


@dataclass(frozen=True)
class OracleArchitecture:
    """The oracle CNN: ``len(channels)`` blocks of (conv k×k, ReLU, 2×2 max-pool), a hidden layer, class logits."""

    image_shape: tuple[int, int, int] = (1, IMAGE_SIDE, IMAGE_SIDE)
    n_classes: int = 10
    channels: tuple[int, ...] = (16, 32)
    hidden_dim: int = 64
    kernel_size: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_shape", tuple(int(size) for size in self.image_shape))
        object.__setattr__(self, "channels", tuple(int(size) for size in self.channels))
        if len(self.image_shape) != 3 or min(self.image_shape) <= 0:
            raise ValueError(f"image_shape must be (channels, height, width), got {self.image_shape}")
        if self.n_classes < 2:
            raise ValueError(f"an oracle needs at least two classes, got n_classes={self.n_classes}")
        if not self.channels or min(self.channels) <= 0 or self.hidden_dim <= 0:
            raise ValueError(f"channels and hidden_dim must be positive, got {self.channels}, {self.hidden_dim}")
        if self.kernel_size <= 0 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (to keep the image size), got {self.kernel_size}")
        _, height, width = self.image_shape
        if height >> len(self.channels) == 0 or width >> len(self.channels) == 0:
            raise ValueError(f"{len(self.channels)} pooling layers do not fit images of shape {self.image_shape}")


@dataclass(frozen=True)
class OracleTraining:
    """How an oracle is trained: Adam on cross-entropy, mini-batches in an order drawn from ``seed``.

    The learning rate decays linearly from ``learning_rate`` to zero over the run, so the final weights do not
    hinge on the last few batches (seed-to-seed accuracy varies less than with a constant rate).
    """

    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs <= 0 or self.batch_size <= 0 or self.learning_rate <= 0:
            raise ValueError(f"epochs, batch_size and learning_rate must be positive, got {self}")


class OracleClassifier(nn.Module):
    """A small CNN digit classifier (see :class:`OracleArchitecture`).

    Accepts images ``(n, C, H, W)``, single-channel images ``(n, H, W)`` or flat images ``(n, C·H·W)``, so it
    reads a modality however a data set stores it.
    """

    def __init__(self, architecture: OracleArchitecture = OracleArchitecture()) -> None:
        super().__init__()
        self.architecture = architecture
        in_channels, height, width = architecture.image_shape
        layers: list[nn.Module] = []
        padding = architecture.kernel_size // 2
        for out_channels in architecture.channels:
            layers += [
                nn.Conv2d(in_channels, out_channels, architecture.kernel_size, padding=padding),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            in_channels, height, width = out_channels, height // 2, width // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * height * width, architecture.hidden_dim),
            nn.ReLU(),
            nn.Linear(architecture.hidden_dim, architecture.n_classes),
        )

    def as_images(self, images: Tensor) -> Tensor:
        """``images`` reshaped to ``(n, C, H, W)``; a ValueError names the shapes if they do not fit."""
        shape = self.architecture.image_shape
        if images.dim() < 2 or math.prod(images.shape[1:]) != math.prod(shape):
            raise ValueError(f"the oracle reads images of shape {shape}, got a batch of shape {tuple(images.shape)}")
        return images.reshape(images.shape[0], *shape)

    def forward(self, images: Tensor) -> Tensor:
        """Class logits ``(n, n_classes)``."""
        return self.head(self.features(self.as_images(images)))

    @torch.no_grad()
    def predict(self, images: Tensor, batch_size: int = 1024) -> Tensor:
        """Most probable class per image ``(n,)``, computed in eval mode on the oracle's device."""
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            predictions = [
                self(images[start : start + batch_size].to(device=device, dtype=torch.float32)).argmax(-1)
                for start in range(0, images.shape[0], batch_size)
            ]
        finally:
            self.train(was_training)
        if not predictions:
            return torch.zeros(0, dtype=torch.long, device=device)
        return torch.cat(predictions)


def train_oracle(
    images: Tensor,
    labels: Tensor,
    architecture: OracleArchitecture,
    training: OracleTraining = OracleTraining(),
    device: torch.device | str = "cpu",
) -> OracleClassifier:
    """Train an oracle from scratch; the result depends only on the data, the settings and ``training.seed``.

    The caller's random state is left untouched (initialisation and batch order come from the seed).
    """
    if images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise ValueError(f"need as many labels as images, and some images; got {images.shape[0]} and {labels.shape[0]}")
    device = torch.device(device)
    order_generator = torch.Generator().manual_seed(training.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(training.seed)
        oracle = OracleClassifier(architecture).to(device)
    optimizer = torch.optim.Adam(oracle.parameters(), lr=training.learning_rate)
    total_steps = training.epochs * -(-images.shape[0] // training.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / total_steps)
    oracle.train()
    for _ in range(training.epochs):
        order = torch.randperm(images.shape[0], generator=order_generator)
        for start in range(0, len(order), training.batch_size):
            index = order[start : start + training.batch_size]
            batch = images[index].to(device=device, dtype=torch.float32)
            loss = F.cross_entropy(oracle(batch), labels[index].to(device=device, dtype=torch.long))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    oracle.eval()
    return oracle


def oracle_accuracy(oracle: OracleClassifier, images: Tensor, labels: Tensor) -> float:
    """Fraction of ``images`` the oracle classifies as their label."""
    if images.shape[0] == 0:
        raise ValueError("cannot measure accuracy on an empty set of images")
    predictions = oracle.predict(images)
    return float((predictions.cpu() == labels.cpu().long()).double().mean())


def data_sha256(images: Tensor, labels: Tensor) -> str:
    """sha256 of images and labels (shapes, dtypes and bytes): identifies the data an oracle was trained on."""
    digest = hashlib.sha256()
    for tensor in (images, labels):
        array = np.ascontiguousarray(tensor.detach().cpu().numpy())
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedOracle:
    """An oracle with what its cache records about it."""

    classifier: OracleClassifier
    test_accuracy: float | None
    train_data_sha256: str
    from_cache: bool
    metadata: dict = field(default_factory=dict)


def metadata_path(cache_path: str | Path) -> Path:
    """The JSON file that describes the weights file ``cache_path`` (``oracle.safetensors`` -> ``oracle.json``)."""
    cache_path = Path(cache_path)
    if cache_path.suffix != ".safetensors":
        raise ValueError(f"{cache_path}: an oracle cache path must end in .safetensors")
    return cache_path.with_suffix(".json")


def _read_metadata(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise OracleCacheError(f"{path}: cannot read the oracle description ({error})") from None
    if not isinstance(metadata, dict) or metadata.get("format") != ORACLE_FORMAT:
        raise OracleCacheError(f"{path}: not an oracle description of format {ORACLE_FORMAT!r}")
    return metadata


def _load_weights(path: Path, architecture: OracleArchitecture, device: torch.device) -> OracleClassifier:
    try:
        state = safetensors.torch.load_file(str(path), device=str(device))
    except (OSError, safetensors.SafetensorError) as error:
        raise OracleCacheError(f"{path}: cannot read oracle weights ({error})") from None
    oracle = OracleClassifier(architecture).to(device)
    try:
        oracle.load_state_dict(state)
    except RuntimeError as error:
        raise OracleCacheError(f"{path}: the weights do not fit the described architecture ({error})") from None
    return oracle.eval()


def _json_ready(value: object) -> object:
    """Dataclass fields as JSON values (tuples become lists), so a description compares equal after a round trip."""
    return json.loads(json.dumps(value))


def load_or_train_oracle(
    cache_path: str | Path,
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor | None = None,
    test_labels: Tensor | None = None,
    *,
    architecture: OracleArchitecture | None = None,
    training: OracleTraining = OracleTraining(),
    device: torch.device | str = "cpu",
) -> CachedOracle:
    """The oracle cached at ``cache_path`` (a ``.safetensors`` path) if it matches, else a newly trained one.

    ``architecture`` defaults to the standard CNN for the images' shape (``(n, C, H, W)`` or ``(n, H, W)``;
    flat images need an explicit architecture). With test data, the test accuracy is measured after
    training and stored; a cached oracle asked about other test data measures it anew and updates the JSON.

    Example::

        oracle = load_or_train_oracle("cache/mnist-oracle.safetensors", mnist.train_images, mnist.train_labels,
                                      mnist.test_images, mnist.test_labels)
        classify = ViewClassifier(oracle.classifier, joined_rows_view(MNIST_SPLIT_PARTS))
    """
    if (test_images is None) != (test_labels is None):
        raise ValueError("give both test_images and test_labels, or neither")
    weights_path = Path(cache_path)
    description_path = metadata_path(weights_path)
    device = torch.device(device)
    if architecture is None:
        architecture = OracleArchitecture(image_shape=_image_shape(train_images))
    train_sha = data_sha256(train_images, train_labels)
    test_sha = None if test_images is None else data_sha256(test_images, test_labels)
    wanted = {
        "format": ORACLE_FORMAT,
        "architecture": _json_ready(asdict(architecture)),
        "training": _json_ready(asdict(training)),
        "train_data_sha256": train_sha,
    }

    cached = _read_metadata(description_path)
    if (
        cached is not None
        and all(cached.get(key) == value for key, value in wanted.items())
        and weights_path.exists()
        and cached.get("weights_sha256") == _file_sha256(weights_path)
    ):
        oracle = _load_weights(weights_path, architecture, device)
        metadata = dict(cached)
        if test_sha is not None and metadata.get("test_data_sha256") != test_sha:
            metadata.update(test_data_sha256=test_sha, test_accuracy=oracle_accuracy(oracle, test_images, test_labels))
            metadata.update(n_test=int(test_images.shape[0]))
            atomic_write_text(description_path, json.dumps(metadata, indent=2) + "\n")
        return CachedOracle(oracle, metadata.get("test_accuracy"), train_sha, True, metadata)

    oracle = train_oracle(train_images, train_labels, architecture, training, device)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in oracle.state_dict().items()}
    with atomic_output(weights_path) as temporary:
        safetensors.torch.save_file(state, str(temporary))
    metadata = {
        **wanted,
        "n_train": int(train_images.shape[0]),
        "weights_sha256": _file_sha256(weights_path),
        "test_data_sha256": test_sha,
        "n_test": None if test_images is None else int(test_images.shape[0]),
        "test_accuracy": None if test_images is None else oracle_accuracy(oracle, test_images, test_labels),
    }
    atomic_write_text(description_path, json.dumps(metadata, indent=2) + "\n")
    return CachedOracle(oracle, metadata["test_accuracy"], train_sha, False, metadata)


def _image_shape(images: Tensor) -> tuple[int, int, int]:
    if images.dim() == 4:
        return tuple(int(size) for size in images.shape[1:])  # type: ignore[return-value]
    if images.dim() == 3:
        return (1, int(images.shape[1]), int(images.shape[2]))
    raise ValueError(
        f"cannot infer an image shape from a batch of shape {tuple(images.shape)}; pass an OracleArchitecture"
    )


# ---------------------------------------------------------------------------------------------- views
def modality_view(name: str) -> View:
    """The view of an image modality by itself (a PolyMNIST modality, MNIST or SVHN)."""

    def view(data: Mapping[str, Tensor]) -> Tensor:
        return data[name]

    view.__name__ = f"modality_view_{name}"
    return view


def joined_rows_view(parts: Mapping[str, tuple[int, int]], width: int = IMAGE_SIDE) -> View:
    """The whole image rebuilt from bands of rows (MNIST-Split: top and bottom half), as ``(n, 1, H, width)``."""
    parts = dict(parts)

    def view(data: Mapping[str, Tensor]) -> Tensor:
        missing = [name for name in parts if name not in data]
        if missing:
            raise KeyError(f"joining image rows needs the bands {missing} as well (got {sorted(data)})")
        return join_rows(data, parts, width).unsqueeze(1)

    view.__name__ = "joined_rows_view"
    return view


@dataclass(frozen=True)
class ViewClassifier:
    """An oracle reading one view of the modalities: a :data:`Classify` function for the coherence metrics."""

    oracle: OracleClassifier
    view: View

    def __call__(self, data: Mapping[str, Tensor]) -> Tensor:
        return self.oracle.predict(self.view(data))


def per_modality_classifiers(oracles: Mapping[str, OracleClassifier]) -> dict[str, Classify]:
    """One classifier per image modality, each reading its own modality (PolyMNIST, MNIST-SVHN)."""
    return {name: ViewClassifier(oracle, modality_view(name)) for name, oracle in oracles.items()}
