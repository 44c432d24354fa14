"""Encoder and decoder networks for the benchmarks. Models know nothing of these: any nn.Module works."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class MLP(nn.Module):
    """A multilayer perceptron: Linear layers with an activation between them (none after the last).

    Works on inputs with any number of leading axes, so a decoder can take ``(K, batch, latent)``.
    """

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], out_dim: int, activation: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        dims = [in_dim, *hidden_dims, out_dim]
        layers: list[nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
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
