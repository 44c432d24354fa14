"""SparseLinear must be exactly the dense linear map, with the same gradients."""

import pytest
import torch

from specvae.sparse_linear import SparseLinear


def _sparse_batch(batch: int, features: int, peaks: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.zeros(batch, features)
    for row in range(batch - 1):  # the last row stays empty: a spectrum with no peak in range
        columns = torch.randperm(features, generator=generator)[:peaks]
        x[row, columns] = torch.rand(peaks, generator=generator) + 0.01
    return x


@pytest.mark.parametrize("layout", ["dense", "coo", "csr"])
def test_matches_dense_linear_in_value_and_gradient(layout):
    torch.manual_seed(0)
    layer = SparseLinear(500, 16)
    x = _sparse_batch(9, 500, 12, seed=1)
    reference_weight = layer.weight.detach().clone().requires_grad_(True)
    reference_bias = layer.bias.detach().clone().requires_grad_(True)
    expected = x @ reference_weight + reference_bias
    given = {"dense": x, "coo": x.to_sparse_coo(), "csr": x.to_sparse_csr()}[layout]
    out = layer(given)
    torch.testing.assert_close(out, expected)
    upstream = torch.randn_like(out)
    (out * upstream).sum().backward()
    (expected * upstream).sum().backward()
    torch.testing.assert_close(layer.weight.grad, reference_weight.grad)
    torch.testing.assert_close(layer.bias.grad, reference_bias.grad)


def test_empty_spectrum_gives_bias_only():
    layer = SparseLinear(20, 4)
    out = layer(torch.zeros(3, 20))
    torch.testing.assert_close(out, layer.bias.detach().expand(3, 4), check_stride=False)


def test_wrong_width_is_a_clear_error():
    with pytest.raises(ValueError, match="expected 20 input features, got 21"):
        SparseLinear(20, 4)(torch.zeros(2, 21))
