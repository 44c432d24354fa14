"""Named benchmarks: how to load a benchmark's data and build the modalities a model is made of.

The command line (``mmcore train --benchmark mnist-split``) and the tests go through :func:`get_benchmark`,
so a benchmark is described once: its data loader and, for a latent size, its encoders, decoders and
likelihoods. Fusion models are chosen separately, by name, from the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from mmcore.data.mnist import IMAGE_SIDE, MNIST_SPLIT3_PARTS, MNIST_SPLIT_PARTS, DataSplits, mnist_split_data
from mmcore.likelihoods import LIKELIHOODS, Likelihood
from mmcore.modality import Modality
from mmcore.networks import MLP, ConvImageDecoder, ConvImageEncoder, mlp_encoder

NETWORKS = ("mlp", "conv")


def _likelihood(name: str) -> Likelihood:
    try:
        return LIKELIHOODS[name]()
    except KeyError:
        raise ValueError(f"unknown likelihood {name!r}; choose one of {sorted(LIKELIHOODS)}") from None


def _band_networks(
    rows: int, latent_dim: int, network: str, hidden_dims: Sequence[int]
) -> tuple[nn.Module, int, nn.Module]:
    """Encoder, feature size and decoder for one flat band of ``rows`` MNIST rows."""
    pixels = rows * IMAGE_SIDE
    if network == "mlp":
        encoder, feature_dim = mlp_encoder(pixels, hidden_dims)
        decoder: nn.Module = MLP(latent_dim, list(reversed(hidden_dims)), pixels)
        return encoder, feature_dim, decoder
    if network == "conv":
        image_shape = (1, rows, IMAGE_SIDE)
        conv_encoder = ConvImageEncoder(image_shape, feature_dim=hidden_dims[-1])
        return conv_encoder, conv_encoder.out_dim, ConvImageDecoder(latent_dim, image_shape, flat_output=True)
    raise ValueError(f"unknown network {network!r}; choose one of {NETWORKS}")


def mnist_split_modalities(
    latent_dim: int,
    *,
    parts: Mapping[str, tuple[int, int]] = MNIST_SPLIT_PARTS,
    network: str = "mlp",
    hidden_dims: Sequence[int] = (400,),
    likelihood: str = "bernoulli",
) -> list[Modality]:
    """One modality per band of MNIST rows (MNIST-Split: "top" and "bottom").

    ``network="mlp"``: an MLP encoder with ``hidden_dims`` and the mirrored MLP decoder; ``"conv"``: the
    stride-2 convolutional image networks of :mod:`mmcore.networks` (feature size ``hidden_dims[-1]``).
    The default likelihood is Bernoulli on grey levels in [0, 1].
    """
    if not hidden_dims:
        raise ValueError("hidden_dims must name at least one layer size")
    modalities = []
    for name, (start, stop) in parts.items():
        encoder, feature_dim, decoder = _band_networks(stop - start, latent_dim, network, hidden_dims)
        modalities.append(Modality(name, encoder, feature_dim, decoder, _likelihood(likelihood)))
    return modalities


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark: its data (train/validation/test) and its modalities for a latent size."""

    name: str
    description: str
    load_data: Callable[..., DataSplits]
    build_modalities: Callable[..., list[Modality]]

    def load(self, data_dir: str | Path | None = None, **options) -> DataSplits:
        """The benchmark's data sets; ``options`` go to the loader (validation_size, seed, verify, train_size, ...)."""
        return self.load_data(data_dir, **options)

    def modalities(self, latent_dim: int, **options) -> list[Modality]:
        """Fresh networks for every modality; ``options`` go to the builder (network, hidden_dims, likelihood)."""
        return self.build_modalities(latent_dim, **options)


def _mnist_benchmark(name: str, description: str, parts: Mapping[str, tuple[int, int]]) -> Benchmark:
    def load(data_dir: str | Path | None = None, **options) -> DataSplits:
        return mnist_split_data(data_dir, parts=parts, **options)

    def build(latent_dim: int, **options) -> list[Modality]:
        return mnist_split_modalities(latent_dim, parts=parts, **options)

    return Benchmark(name, description, load, build)


BENCHMARKS: dict[str, Benchmark] = {
    "mnist-split": _mnist_benchmark(
        "mnist-split", "MNIST digits as two modalities: top half (rows 0-13) and bottom half (rows 14-27)",
        MNIST_SPLIT_PARTS,
    ),
    "mnist-split-3": _mnist_benchmark(
        "mnist-split-3", "MNIST digits as three modalities: rows 0-8, 9-17 and 18-27", MNIST_SPLIT3_PARTS
    ),
}


def get_benchmark(name: str) -> Benchmark:
    """The benchmark registered under ``name``."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise KeyError(f"unknown benchmark {name!r}; available: {', '.join(sorted(BENCHMARKS))}") from None
