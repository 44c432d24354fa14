"""Data sets for mmcore benchmarks: multimodal tensors with presence masks, loaders, manifests, splits, MNIST-Split."""

from mmcore.data.dataset import MultimodalBatch, MultimodalDataset, collate_multimodal
from mmcore.data.loader import DeviceLoader, EpochSampler, MultimodalLoader
from mmcore.data.manifest import (
    ChecksumError,
    DataDirectoryError,
    ManifestError,
    load_manifest,
    resolve_data_dir,
    sha256_of,
)
from mmcore.data.mnist import (
    MNIST_SPLIT3_PARTS,
    MNIST_SPLIT_PARTS,
    load_mnist,
    mnist_split_data,
    split_mnist,
)
from mmcore.data.splits import DataSplits, validation_indices

__all__ = [
    "MNIST_SPLIT3_PARTS",
    "MNIST_SPLIT_PARTS",
    "ChecksumError",
    "DataDirectoryError",
    "DataSplits",
    "DeviceLoader",
    "EpochSampler",
    "ManifestError",
    "MultimodalBatch",
    "MultimodalDataset",
    "MultimodalLoader",
    "collate_multimodal",
    "load_manifest",
    "load_mnist",
    "mnist_split_data",
    "resolve_data_dir",
    "sha256_of",
    "split_mnist",
    "validation_indices",
]
