"""Named benchmarks: how to load a benchmark's data, build the modalities a model is made of, and train it.

The command line (``mmcore train --benchmark mnist-split``, ``mmcore benchmark``) and the tests go through
:func:`get_benchmark`, so a benchmark is described once: its data loader, for a latent size its encoders,
decoders and likelihoods, and its published training settings (:class:`Protocol`). Fusion models are chosen
separately, by name, from the registry.

Registered: ``mnist-split`` and ``mnist-split-3`` (bands of MNIST rows), ``polymnist`` (the user's five
original backgrounds, ``background_dir=``) and ``polymnist-procedural`` (generated backgrounds),
``mnist-svhn`` and ``mnist-svhn-text``, and ``cub`` (images or image features, and captions). Networks
depend on the data only through shapes, except CUB's caption networks, which need the vocabulary size:
:meth:`Benchmark.modalities` takes the loaded data (``data=splits``) to read such sizes from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from torch import nn

from mmcore.data.cub import CUB_MODALITIES, IMAGE_SIZE, VALIDATION_IMAGES, CubSplits, cub_data
from mmcore.data.manifest import DataDirectoryError
from mmcore.data.mnist import IMAGE_SIDE, MNIST_SPLIT3_PARTS, MNIST_SPLIT_PARTS, mnist_split_data
from mmcore.data.mnist_svhn import (
    MNIST_IMAGE_SHAPE,
    SVHN_IMAGE_SHAPE,
    TEXT_ALPHABET,
    TEXT_LENGTH,
    TEXT_MODALITY,
    mnist_svhn_data,
)
from mmcore.data.polymnist import IMAGE_SHAPE as POLYMNIST_IMAGE_SHAPE
from mmcore.data.polymnist import POLYMNIST_MODALITIES, polymnist_data
from mmcore.data.splits import DataSplits
from mmcore.data.text import MAX_LENGTH
from mmcore.likelihoods import LIKELIHOODS, CategoricalLikelihood, Likelihood
from mmcore.modality import Modality
from mmcore.networks import MLP, ConvImageDecoder, ConvImageEncoder, TextCNNDecoder, TextCNNEncoder, mlp_encoder

NETWORKS = ("mlp", "conv")
DEFAULT_VALIDATION_SIZE = 10_000


# ------------------------------------------------------------------------------------- training protocols
@dataclass(frozen=True)
class Protocol:
    """The published training settings of one benchmark: epochs, batch, optimiser, latent size and networks.

    A protocol is what ``--budget paper`` trains with; smaller budgets scale its epochs and data
    (:mod:`mmcore.benchmarking.budget`). ``network``/``hidden_dims``/``likelihood`` are passed to the
    benchmark's modality builder (:meth:`Benchmark.modalities`); ``likelihood=None`` keeps the builder's
    default. ``source`` says what the values rest on; a grid run records every value in its
    ``run_config.json``. The validation set is not part of a protocol (the papers have none): its size is
    the benchmark's (:attr:`Benchmark.validation_size`).

    What each benchmark's protocol rests on:

    * MNIST-Split (Kutuzova et al. 2021, code release sgalkina/poe-vaes, ``experiments/mnist_split/run.py``
      and ``MNIST_split_inference.py``): 200 epochs, batch size 100, no KL annealing, latent size 64;
      encoders of three stride-2 convolutions (64, 128, 256 channels) and a 512-unit layer,
      transposed-convolution decoders, Bernoulli likelihoods; the accuracies are judged by a ResNet-18
      trained on MNIST. Here the convolutional networks of :mod:`mmcore.networks` (two stride-2 layers)
      stand in for the seed's, and the oracle is :class:`~mmcore.metrics.oracles.OracleClassifier` (a small
      CNN, ~99 % test accuracy). MNIST-Split-3 (``experiments/mnist_split_three``) is trained the same way.
    * MNIST-SVHN (the seed's ``experiments/mnist_svhn/run.py``): 200 epochs, batch size 256, no annealing.
      The latent size 20 and the Laplace likelihoods are MMVAE's (Shi et al. 2019), whose pairing the data
      use. MNIST-SVHN-Text adds a text modality with the text CNNs of :mod:`mmcore.networks`.
    * PolyMNIST (Sutter et al. 2021, MoPoE release, ``mmnist/flags.py``): Laplace likelihoods; epochs, batch
      size and latent size are this package's choice.
    * CUB image-captions (MMVAE): Laplace likelihood on images, categorical on captions; epochs, batch size
      and latent size are this package's choice.
    """

    epochs: int
    batch_size: int
    latent_dim: int
    network: str
    hidden_dims: tuple[int, ...]
    learning_rate: float = 1e-3
    beta: float = 1.0
    beta_warmup_epochs: float = 0.0
    likelihood: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.epochs <= 0 or self.batch_size <= 0 or self.latent_dim <= 0:
            raise ValueError(f"epochs, batch_size and latent_dim must be positive, got {self}")
        if not self.hidden_dims or min(self.hidden_dims) <= 0:
            raise ValueError(f"hidden_dims must be positive layer sizes, got {self.hidden_dims}")

    def to_dict(self) -> dict[str, object]:
        values = asdict(self)
        values["hidden_dims"] = list(self.hidden_dims)
        return values


_SEED_MNIST_SPLIT = "Kutuzova et al. 2021, sgalkina/poe-vaes experiments/mnist_split (200 epochs, batch 100, z=64)"
_MNIST_SPLIT_PROTOCOL = Protocol(200, 100, 64, "conv", (512,), source=_SEED_MNIST_SPLIT)
_MNIST_SVHN_PROTOCOL = Protocol(
    200, 256, 20, "conv", (256,), source="seed experiments/mnist_svhn (200 epochs, batch 256); z=20 as MMVAE"
)
_POLYMNIST_PROTOCOL = Protocol(
    300, 256, 512, "conv", (256,), source="MoPoE PolyMNIST likelihoods; epochs, batch and latent size chosen here"
)


# ------------------------------------------------------------------------------------- networks and data


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


def _no_data_options(_splits: DataSplits) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Benchmark:
    """A named benchmark: its data (train/validation/test), its modalities for a latent size, its protocol.

    ``data_options`` reads from loaded data what the modality builder needs beyond shapes fixed by the
    benchmark (CUB: the vocabulary size); ``validation_size`` is the benchmark's default number of
    held-out training samples (CUB holds out 885 *images*, a tenth of its training images).
    """

    name: str
    description: str
    load_data: Callable[..., DataSplits]
    build_modalities: Callable[..., list[Modality]]
    protocol: Protocol
    data_options: Callable[[DataSplits], dict[str, Any]] = field(default=_no_data_options)
    validation_size: int = DEFAULT_VALIDATION_SIZE

    def load(self, data_dir: str | Path | None = None, **options) -> DataSplits:
        """The benchmark's data sets; ``options`` go to the loader (validation_size, seed, verify, train_size, ...)."""
        return self.load_data(data_dir, **options)

    def modalities(self, latent_dim: int, data: DataSplits | None = None, **options) -> list[Modality]:
        """Fresh networks for every modality; ``options`` go to the builder (network, hidden_dims, likelihood).

        With ``data`` (the loaded splits), sizes that depend on the data (CUB's vocabulary) are read from it;
        explicit ``options`` win.
        """
        if data is not None:
            options = {**self.data_options(data), **options}
        return self.build_modalities(latent_dim, **options)


def _mnist_benchmark(
    name: str, description: str, parts: Mapping[str, tuple[int, int]], protocol: Protocol
) -> Benchmark:
    def load(data_dir: str | Path | None = None, **options) -> DataSplits:
        return mnist_split_data(data_dir, parts=parts, **options)

    def build(latent_dim: int, **options) -> list[Modality]:
        return mnist_split_modalities(latent_dim, parts=parts, **options)

    return Benchmark(name, description, load, build, protocol)


# ------------------------------------------------------------------------------------- image benchmarks


def _conv_channels(image_shape: Sequence[int]) -> tuple[int, ...]:
    """Stride-2 layers for an image side: two for 28 (MNIST, PolyMNIST), three for 32 (SVHN), four for 64 (CUB)."""
    side = min(image_shape[1:])
    n_layers = max(2, int(math.log2(side)) - 3)
    return tuple(32 * 2**layer for layer in range(n_layers))


def image_networks(
    image_shape: Sequence[int], latent_dim: int, network: str, hidden_dims: Sequence[int]
) -> tuple[nn.Module, int, nn.Module]:
    """Encoder, feature size and decoder for flat images of ``image_shape`` (channels, height, width).

    ``"mlp"``: an MLP on the flat pixels with ``hidden_dims`` and its mirror; ``"conv"``: stride-2
    convolutions (:func:`_conv_channels`), feature size ``hidden_dims[-1]``, and the mirrored transposed
    convolutions, scoring the flat pixels the data sets store.
    """
    if not hidden_dims:
        raise ValueError("hidden_dims must name at least one layer size")
    shape = tuple(int(size) for size in image_shape)
    if network == "mlp":
        pixels = math.prod(shape)
        encoder, feature_dim = mlp_encoder(pixels, hidden_dims)
        return encoder, feature_dim, MLP(latent_dim, list(reversed(hidden_dims)), pixels)
    if network == "conv":
        channels = _conv_channels(shape)
        conv_encoder = ConvImageEncoder(shape, feature_dim=hidden_dims[-1], channels=channels)
        decoder = ConvImageDecoder(latent_dim, shape, channels=tuple(reversed(channels)), flat_output=True)
        return conv_encoder, conv_encoder.out_dim, decoder
    raise ValueError(f"unknown network {network!r}; choose one of {NETWORKS}")


def _image_modality(
    name: str, image_shape: Sequence[int], latent_dim: int, network: str, hidden_dims: Sequence[int], likelihood: str
) -> Modality:
    encoder, feature_dim, decoder = image_networks(image_shape, latent_dim, network, hidden_dims)
    return Modality(name, encoder, feature_dim, decoder, _likelihood(likelihood))


def _text_modality(
    name: str,
    latent_dim: int,
    vocabulary_size: int,
    sequence_length: int,
    feature_dim: int,
    padding_index: int | None,
) -> Modality:
    """A token-sequence modality: text CNNs and a categorical likelihood that skips ``padding_index``."""
    encoder = TextCNNEncoder(vocabulary_size, sequence_length, feature_dim=feature_dim, padding_index=padding_index)
    decoder = TextCNNDecoder(latent_dim, vocabulary_size, sequence_length)
    return Modality(name, encoder, encoder.out_dim, decoder, CategoricalLikelihood(padding_index=padding_index))


def polymnist_modalities(
    latent_dim: int,
    *,
    network: str = "conv",
    hidden_dims: Sequence[int] = (256,),
    likelihood: str = "laplace",
) -> list[Modality]:
    """Five RGB 28×28 modalities m0..m4 (flat, 2,352 values); Laplace likelihood as in the MoPoE release."""
    return [
        _image_modality(name, POLYMNIST_IMAGE_SHAPE, latent_dim, network, hidden_dims, likelihood)
        for name in POLYMNIST_MODALITIES
    ]


def mnist_svhn_modalities(
    latent_dim: int,
    *,
    with_text: bool = False,
    network: str = "conv",
    hidden_dims: Sequence[int] = (256,),
    likelihood: str = "laplace",
) -> list[Modality]:
    """MNIST (1×28×28) and SVHN (3×32×32) images, flat; with ``with_text`` the digit's name as 8 characters.

    Images use ``likelihood`` (Laplace, as MMVAE); the text is 8 ids into the 27-character alphabet of
    :mod:`mmcore.data.mnist_svhn` with a categorical likelihood scoring every position (spaces carry the
    word's position, so there is no padding index).
    """
    modalities = [
        _image_modality("mnist", MNIST_IMAGE_SHAPE, latent_dim, network, hidden_dims, likelihood),
        _image_modality("svhn", SVHN_IMAGE_SHAPE, latent_dim, network, hidden_dims, likelihood),
    ]
    if with_text:
        modalities.append(
            _text_modality(TEXT_MODALITY, latent_dim, len(TEXT_ALPHABET), TEXT_LENGTH, hidden_dims[-1], None)
        )
    return modalities


def cub_modalities(
    latent_dim: int,
    *,
    vocabulary_size: int | None = None,
    image_feature_dim: int | None = None,
    caption_length: int = MAX_LENGTH,
    network: str = "conv",
    hidden_dims: Sequence[int] = (256,),
    likelihood: str = "laplace",
) -> list[Modality]:
    """CUB "image" and "caption" modalities.

    The image is either 3×64×64 pixels (``network`` decides the networks) or, with ``image_feature_dim``,
    a feature vector of that size (always MLPs). Captions are ``caption_length`` token ids with padding
    index 0 (``<pad>``) left unscored; ``vocabulary_size`` is ``len(vocabulary)`` of the loaded data, which
    :meth:`Benchmark.modalities` fills in when given ``data=splits``.
    """
    if vocabulary_size is None:
        raise ValueError(
            "CUB caption networks need vocabulary_size (len of the vocabulary); pass data=splits to "
            "Benchmark.modalities or vocabulary_size=len(splits.vocabulary)"
        )
    if image_feature_dim is None:
        image = _image_modality("image", (3, IMAGE_SIZE, IMAGE_SIZE), latent_dim, network, hidden_dims, likelihood)
    else:
        image = _image_modality("image", (1, 1, image_feature_dim), latent_dim, "mlp", hidden_dims, likelihood)
    caption = _text_modality("caption", latent_dim, vocabulary_size, caption_length, hidden_dims[-1], 0)
    return [image, caption]


def _cub_data_options(splits: DataSplits) -> dict[str, Any]:
    """Vocabulary size, caption length and, for feature images, the feature size of loaded CUB data."""
    vocabulary = getattr(splits, "vocabulary", None)
    if vocabulary is None:
        raise ValueError("CUB data must come with its vocabulary (CubSplits from cub_data)")
    options: dict[str, Any] = {"vocabulary_size": len(vocabulary)}
    captions, images = splits.train.data["caption"], splits.train.data["image"]
    options["caption_length"] = int(captions.shape[-1])
    if getattr(images, "base", images).dtype.is_floating_point:  # pixels are stored as uint8, features as float
        options["image_feature_dim"] = int(images.shape[-1])
    return options


def _polymnist_loader(procedural: bool) -> Callable[..., DataSplits]:
    def load(data_dir: str | Path | None = None, **options) -> DataSplits:
        background_dir = options.pop("background_dir", None)
        if procedural:
            if background_dir is not None:
                raise ValueError("polymnist-procedural generates its backgrounds; use 'polymnist' with background_dir")
        elif background_dir is None:
            raise DataDirectoryError(
                "benchmark 'polymnist' needs the five original PolyMNIST background images: pass background_dir= "
                "(--background-dir DIR; see data_manifests/polymnist.json), or use 'polymnist-procedural', "
                "which generates its backgrounds (numbers not comparable with the papers')"
            )
        return polymnist_data(data_dir, background_dir=background_dir, **options)

    return load


def _mnist_svhn_loader(with_text: bool) -> Callable[..., DataSplits]:
    def load(data_dir: str | Path | None = None, **options) -> DataSplits:
        return mnist_svhn_data(data_dir, with_text=with_text, **options)

    return load


def _mnist_svhn_builder(with_text: bool) -> Callable[..., list[Modality]]:
    def build(latent_dim: int, **options) -> list[Modality]:
        return mnist_svhn_modalities(latent_dim, with_text=with_text, **options)

    return build


def _load_cub(data_dir: str | Path | None = None, **options) -> CubSplits:
    return cub_data(data_dir, **options)


BENCHMARKS: dict[str, Benchmark] = {
    "mnist-split": _mnist_benchmark(
        "mnist-split",
        "MNIST digits as two modalities: top half (rows 0-13) and bottom half (rows 14-27)",
        MNIST_SPLIT_PARTS,
        _MNIST_SPLIT_PROTOCOL,
    ),
    "mnist-split-3": _mnist_benchmark(
        "mnist-split-3",
        "MNIST digits as three modalities: rows 0-8, 9-17 and 18-27",
        MNIST_SPLIT3_PARTS,
        replace(_MNIST_SPLIT_PROTOCOL, source=_SEED_MNIST_SPLIT + "; split-3 alike"),
    ),
    "polymnist": Benchmark(
        "polymnist",
        "PolyMNIST: five RGB views m0..m4 of one digit class, on the user's original backgrounds",
        _polymnist_loader(procedural=False),
        polymnist_modalities,
        _POLYMNIST_PROTOCOL,
    ),
    "polymnist-procedural": Benchmark(
        "polymnist-procedural",
        "PolyMNIST on five generated background textures (not comparable with the papers)",
        _polymnist_loader(procedural=True),
        polymnist_modalities,
        replace(_POLYMNIST_PROTOCOL, source="as polymnist, on procedural backgrounds (not comparable to papers)"),
    ),
    "mnist-svhn": Benchmark(
        "mnist-svhn",
        "An MNIST and an SVHN image of the same digit (MMVAE pairing, 20 pairs per instance)",
        _mnist_svhn_loader(with_text=False),
        _mnist_svhn_builder(with_text=False),
        _MNIST_SVHN_PROTOCOL,
    ),
    "mnist-svhn-text": Benchmark(
        "mnist-svhn-text",
        "MNIST-SVHN plus the digit's English name as an 8-character string (MMJSD)",
        _mnist_svhn_loader(with_text=True),
        _mnist_svhn_builder(with_text=True),
        replace(_MNIST_SVHN_PROTOCOL, source="as mnist-svhn, with this package's text CNNs"),
    ),
    "cub": Benchmark(
        "cub",
        f"CUB-200 bird {CUB_MODALITIES[0]}s (64×64 pixels or features) and their {CUB_MODALITIES[1]}s (MMVAE)",
        _load_cub,
        cub_modalities,
        Protocol(
            200, 128, 64, "conv", (256,), source="MMVAE CUB image-captions likelihoods; epochs, batch, z chosen here"
        ),
        data_options=_cub_data_options,
        validation_size=VALIDATION_IMAGES,
    ),
}


PROTOCOLS: dict[str, Protocol] = {name: benchmark.protocol for name, benchmark in BENCHMARKS.items()}
"""The protocol of every registered benchmark (see :class:`Protocol` for what each value rests on)."""


def get_benchmark(name: str) -> Benchmark:
    """The benchmark registered under ``name``."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise KeyError(f"unknown benchmark {name!r}; available: {', '.join(sorted(BENCHMARKS))}") from None


def get_protocol(benchmark: str) -> Protocol:
    """The protocol of ``benchmark``."""
    try:
        return PROTOCOLS[benchmark]
    except KeyError:
        raise KeyError(f"no protocol for benchmark {benchmark!r}; known: {', '.join(sorted(PROTOCOLS))}") from None
