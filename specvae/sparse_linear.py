"""A linear layer that reads binned spectra as sparse vectors.

A binned MS/MS spectrum has tens of peaks among ~10,000 bins. A dense first layer multiplies every zero;
this layer gathers only the rows of the weight matrix that belong to non-zero bins (an ``embedding_bag``
with per-sample weights), which is the same linear map at a fraction of the cost.
``benchmarks/bench_sparse_layer.py`` measures the difference on a training step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SparseLinear(nn.Module):
    """``y = x W + b`` for mostly-zero ``x``, computed from the non-zero entries only.

    Accepts a dense tensor ``(batch, in_features)`` (its non-zeros are found once per call) or a torch
    sparse COO/CSR tensor. Gradients for ``W`` are dense, so any optimiser works.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same initialisation as nn.Linear (Kaiming-uniform with a=sqrt(5), fan_in = in_features).
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"expected {self.in_features} input features, got {x.shape[-1]}")
        if x.is_sparse or x.layout == torch.sparse_csr:
            x = x.to_sparse_coo().coalesce()
            rows, columns = x.indices()
            values = x.values()
            batch = x.shape[0]
        else:
            rows, columns = torch.nonzero(x, as_tuple=True)
            values = x[rows, columns]
            batch = x.shape[0]
        counts = torch.bincount(rows, minlength=batch)
        offsets = torch.cumsum(counts, 0) - counts
        out = F.embedding_bag(
            columns, self.weight, offsets, mode="sum", per_sample_weights=values.to(self.weight.dtype)
        )
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
