"""The published training settings of each benchmark, written down once, with where they come from.

A :class:`Protocol` is what ``--budget paper`` trains with; smaller budgets scale its epochs and data
(:mod:`mmcore.benchmarking.budget`). Every value a grid run uses is recorded in the run's
``run_config.json``, so a table can always be traced back to its settings.

Sources, as far as they could be checked here:

* MNIST-Split (Kutuzova et al. 2021, code release sgalkina/poe-vaes, ``experiments/mnist_split/run.py`` and
  ``MNIST_split_inference.py``): 200 epochs, batch size 100, no KL annealing, latent size 64; encoders of
  three stride-2 convolutions (64, 128, 256 channels) and a 512-unit layer, transposed-convolution decoders,
  Bernoulli likelihoods; the accuracies are judged by a ResNet-18 trained on MNIST. Here the convolutional
  networks of :mod:`mmcore.networks` (two stride-2 layers) stand in for the seed's, and the oracle is
  :class:`~mmcore.metrics.oracles.OracleClassifier` (a small CNN, ~99 % test accuracy).
  MNIST-Split-3 (``experiments/mnist_split_three``) is trained the same way.
* MNIST-SVHN (the seed's ``experiments/mnist_svhn/run.py``): 200 epochs, batch size 256, no annealing. The
  latent size 20 and the Laplace likelihoods are MMVAE's (Shi et al. 2019), whose pairing the data use.
* PolyMNIST (Sutter et al. 2021, MoPoE release, ``mmnist/flags.py``): Laplace likelihoods; epochs, batch
  size and latent size are this package's choice.
* CUB image-captions (MMVAE): Laplace likelihood on images, categorical on captions; same caveat.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Protocol:
    """Training settings of one benchmark: epochs, batch, optimiser, latent size and networks.

    ``network``/``hidden_dims``/``likelihood`` are passed to the benchmark's modality builder
    (:meth:`mmcore.benchmarks_setup.Benchmark.modalities`); ``likelihood=None`` keeps the builder's default.
    The validation set is not part of a protocol (the papers have none): its size is the benchmark's
    (:attr:`mmcore.benchmarks_setup.Benchmark.validation_size`).
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

PROTOCOLS: dict[str, Protocol] = {
    "mnist-split": Protocol(200, 100, 64, "conv", (512,), source=_SEED_MNIST_SPLIT),
    "mnist-split-3": Protocol(200, 100, 64, "conv", (512,), source=_SEED_MNIST_SPLIT + "; split-3 alike"),
    "mnist-svhn": Protocol(
        200, 256, 20, "conv", (256,), source="seed experiments/mnist_svhn (200 epochs, batch 256); z=20 as MMVAE"
    ),
    "mnist-svhn-text": Protocol(
        200, 256, 20, "conv", (256,), source="as mnist-svhn; text networks of MMJSD's MNIST-SVHN-Text (assumed)"
    ),
    "polymnist": Protocol(300, 256, 512, "conv", (256,), source="MoPoE PolyMNIST; epochs/batch/latent unconfirmed"),
    "polymnist-procedural": Protocol(
        300, 256, 512, "conv", (256,), source="as polymnist, on procedural backgrounds (not comparable to papers)"
    ),
    "cub": Protocol(200, 128, 64, "conv", (256,), source="MMVAE CUB image-captions; values unconfirmed"),
}
"""The protocol of every registered benchmark (see the module docstring for what each value rests on)."""


def get_protocol(benchmark: str) -> Protocol:
    """The protocol of ``benchmark``."""
    try:
        return PROTOCOLS[benchmark]
    except KeyError:
        raise KeyError(f"no protocol for benchmark {benchmark!r}; known: {', '.join(sorted(PROTOCOLS))}") from None
