"""Encoder and decoder networks for the benchmarks. Models know nothing of these: any nn.Module works."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    """A multilayer perceptron: Linear layers with an activation between them (none after the last).

    Works on inputs with any number of leading axes, so a decoder can take ``(K, batch, latent)``.
    """

    def __init__(
        self, in_dim: int, hidden_dims: Sequence[int], out_dim: int, activation: type[nn.Module] = nn.ReLU
    ) -> None:
        super().__init__()
        dims = [in_dim, *hidden_dims, out_dim]
        layers: list[nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            layers.append(nn.Linear(fan_in, fan_out))
            if index < len(dims) - 2:
                layers.append(activation())
        self.layers = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def mlp_encoder(in_dim: int, hidden_dims: Sequence[int]) -> tuple[nn.Module, int]:
    """An MLP feature network ending in an activation, with its feature size (for :class:`Modality`)."""
    *inner, last = hidden_dims
    return nn.Sequential(MLP(in_dim, inner, last), nn.ReLU()), last


def _fold_leading_axes(x: Tensor, event_dims: int) -> tuple[Tensor, tuple[int, ...]]:
    """Merge every axis before the last ``event_dims`` into one, returning the merged leading shape.

    Why: convolutions take exactly one batch axis, while a decoder receives ``(K, batch, latent)`` when a
    model draws K latent samples per data point (IWAE-style bounds).
    """
    leading = tuple(x.shape[: x.dim() - event_dims])
    return x.reshape(-1, *x.shape[x.dim() - event_dims :]), leading


def _upsampled_start(size: int, n_upsamplings: int) -> int:
    """Smallest start size that reaches at least ``size`` after ``n_upsamplings`` doublings."""
    return -(-size // 2**n_upsamplings)


class ConvImageEncoder(nn.Module):
    """Feature network for small images: stride-2 convolutions, then one linear layer.

    The layout follows the image networks of the MMVAE/SVAE benchmarks (4×4 kernels, stride 2, padding 1,
    channels doubling per layer): two layers for 28×28 MNIST (and its 14×28 halves), three for 32×32 SVHN.
    Input may be flat ``(..., C·H·W)`` or images ``(..., C, H, W)``; both give the same features, so a data
    set stores whichever is convenient. Output: ``(..., feature_dim)`` after a ReLU.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        feature_dim: int = 256,
        channels: Sequence[int] = (32, 64),
    ) -> None:
        super().__init__()
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (channels, height, width), got {tuple(image_shape)}")
        self.image_shape = tuple(int(size) for size in image_shape)
        in_channels, height, width = self.image_shape
        layers: list[nn.Module] = []
        for out_channels in channels:
            layers += [nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1), nn.ReLU()]
            in_channels = out_channels
            # A stride-2 conv with kernel 4 and padding 1 maps size s to floor(s / 2).
            height, width = height // 2, width // 2
        if height < 1 or width < 1:
            raise ValueError(f"{len(channels)} stride-2 layers are too many for an image of shape {self.image_shape}")
        self.convolutions = nn.Sequential(*layers)
        self.linear = nn.Linear(in_channels * height * width, feature_dim)
        self.out_dim = feature_dim

    def forward(self, x: Tensor) -> Tensor:
        channels, height, width = self.image_shape
        flat_size = channels * height * width
        if x.shape[-3:] == self.image_shape:
            images, leading = _fold_leading_axes(x, 3)
        elif x.shape[-1] == flat_size:
            images, leading = _fold_leading_axes(x, 1)
            images = images.reshape(-1, channels, height, width)
        else:
            raise ValueError(
                f"expected images of shape {self.image_shape} or flat size {flat_size}, got {tuple(x.shape)}"
            )
        features = torch.relu(self.linear(self.convolutions(images).flatten(1)))
        return features.reshape(*leading, self.out_dim)


class ConvImageDecoder(nn.Module):
    """Decoder for small images: one linear layer, then stride-2 transposed convolutions.

    Maps latents ``(..., latent_dim)`` to per-pixel parameters (logits or means) of shape
    ``(..., C, H, W)``, or ``(..., C·H·W)`` with ``flat_output`` (to score flat data). Each transposed
    convolution doubles the size exactly; odd target sizes (14 rows of an MNIST half, 9 or 10 rows of a
    third) are reached by cropping the last map, so one architecture serves every MNIST part.
    """

    def __init__(
        self,
        latent_dim: int,
        image_shape: Sequence[int],
        channels: Sequence[int] = (64, 32),
        flat_output: bool = False,
    ) -> None:
        super().__init__()
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (channels, height, width), got {tuple(image_shape)}")
        if not channels:
            raise ValueError("a ConvImageDecoder needs at least one transposed convolution")
        self.image_shape = tuple(int(size) for size in image_shape)
        self.flat_output = flat_output
        out_channels, height, width = self.image_shape
        n_layers = len(channels)
        self.start_shape = (channels[0], _upsampled_start(height, n_layers), _upsampled_start(width, n_layers))
        self.linear = nn.Linear(latent_dim, channels[0] * self.start_shape[1] * self.start_shape[2])
        layers: list[nn.Module] = [nn.ReLU()]
        for index, in_channels in enumerate(channels):
            next_channels = channels[index + 1] if index + 1 < n_layers else out_channels
            layers.append(nn.ConvTranspose2d(in_channels, next_channels, kernel_size=4, stride=2, padding=1))
            if index + 1 < n_layers:
                layers.append(nn.ReLU())
        self.deconvolutions = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        latents, leading = _fold_leading_axes(z, 1)
        maps = self.linear(latents).reshape(-1, *self.start_shape)
        _, height, width = self.image_shape
        images = self.deconvolutions(maps)[..., :height, :width]
        if self.flat_output:
            return images.reshape(*leading, -1)
        return images.reshape(*leading, *self.image_shape)


class TextCNNEncoder(nn.Module):
    """Feature network for token sequences ``(..., length)`` of integer ids (captions).

    Embeds tokens, then applies stride-2 1-D convolutions along the sequence and one linear layer, as the
    CNN sentence networks of the CUB benchmark do. The padding token embeds to a zero vector.
    """

    def __init__(
        self,
        vocabulary_size: int,
        sequence_length: int,
        feature_dim: int = 256,
        embedding_dim: int = 64,
        channels: Sequence[int] = (128, 256),
        padding_index: int | None = 0,
    ) -> None:
        super().__init__()
        self.sequence_length = sequence_length
        self.embedding = nn.Embedding(vocabulary_size, embedding_dim, padding_idx=padding_index)
        layers: list[nn.Module] = []
        in_channels, length = embedding_dim, sequence_length
        for out_channels in channels:
            layers += [nn.Conv1d(in_channels, out_channels, kernel_size=4, stride=2, padding=1), nn.ReLU()]
            in_channels, length = out_channels, length // 2
        if length < 1:
            raise ValueError(f"{len(channels)} stride-2 layers are too many for sequences of length {sequence_length}")
        self.convolutions = nn.Sequential(*layers)
        self.linear = nn.Linear(in_channels * length, feature_dim)
        self.out_dim = feature_dim

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.shape[-1] != self.sequence_length:
            raise ValueError(f"expected sequences of length {self.sequence_length}, got shape {tuple(tokens.shape)}")
        flat_tokens, leading = _fold_leading_axes(tokens.long(), 1)
        embedded = self.embedding(flat_tokens).transpose(1, 2)  # (N, embedding_dim, length)
        features = torch.relu(self.linear(self.convolutions(embedded).flatten(1)))
        return features.reshape(*leading, self.out_dim)


class TextCNNDecoder(nn.Module):
    """Decoder for token sequences: latents ``(..., latent_dim)`` to logits ``(..., length, vocabulary)``.

    The mirror of :class:`TextCNNEncoder` (linear layer, stride-2 transposed 1-D convolutions, a 1×1
    convolution to the vocabulary); its output is what :class:`mmcore.likelihoods.CategoricalLikelihood`
    scores.
    """

    def __init__(
        self,
        latent_dim: int,
        vocabulary_size: int,
        sequence_length: int,
        channels: Sequence[int] = (256, 128),
    ) -> None:
        super().__init__()
        if not channels:
            raise ValueError("a TextCNNDecoder needs at least one transposed convolution")
        self.sequence_length = sequence_length
        self.start_shape = (channels[0], _upsampled_start(sequence_length, len(channels)))
        self.linear = nn.Linear(latent_dim, channels[0] * self.start_shape[1])
        layers: list[nn.Module] = [nn.ReLU()]
        for index, in_channels in enumerate(channels):
            next_channels = channels[index + 1] if index + 1 < len(channels) else channels[-1]
            layers += [nn.ConvTranspose1d(in_channels, next_channels, kernel_size=4, stride=2, padding=1), nn.ReLU()]
        layers.append(nn.Conv1d(channels[-1], vocabulary_size, kernel_size=1))
        self.deconvolutions = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        latents, leading = _fold_leading_axes(z, 1)
        maps = self.linear(latents).reshape(-1, *self.start_shape)
        logits = self.deconvolutions(maps)[..., : self.sequence_length]  # (N, vocabulary, length)
        return logits.transpose(1, 2).reshape(*leading, self.sequence_length, -1)
