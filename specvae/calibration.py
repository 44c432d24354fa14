"""Calibrating predicted fingerprint bits on validation spectra, folded into the network's last layer.

Ranking sums, over bits, the log-probability that the candidate's bit value was predicted. A bit the network is
over-confident about (``p = 0.999`` where it is right 90 % of the time) then outweighs ten honest bits, and a
candidate that disagrees with it is pushed down far more than the evidence allows. Per-bit Platt scaling
(Platt 1999) refits each bit's logit ``l`` as ``a * l + b`` to minimise the binary cross-entropy on spectra the
network was not trained on; temperature scaling (Guo et al. 2017) fits one ``a`` for every bit and ``b = 0``;
per-bit temperature fits one ``a`` per bit and ``b = 0``.

What each can do to a *ranking* differs. A candidate's score is ``sum_j bit_j * logit_j`` plus a term that is the
same for every candidate, so one temperature leaves every ranking as it is (it only makes the probabilities
honest). Per-bit scales re-weigh the bits against each other. Platt's shifts ``b`` add a constant to every set bit
whatever the spectrum: a learned preference for candidates with common bits, which the validation measurements
in ``benchmarks/results/accuracy`` show costs retrieval although it lowers the log-loss.

The affine map is *folded into the fingerprint decoder's last Linear layer* (rows scaled by ``a``, bias
``a * bias + b``): a calibrated model is an ordinary model file, and every path that predicts fingerprints —
``specvae annotate``, the benchmark, the Dask runner, the validation metric — uses the calibrated bits without
knowing about calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from specvae.ranking import DEFAULT_EPS

CALIBRATION_KINDS = ("platt", "temperature", "bit-temperature")
_PROBABILITY_FLOOR = DEFAULT_EPS
"""Probabilities are clipped as the ranking clips them, so a calibration is fitted on the log-odds it re-weighs."""


@dataclass(frozen=True)
class BitCalibration:
    """Per-bit ``scale`` and ``shift`` of the logits (``logit' = scale * logit + shift``)."""

    kind: str
    scale: np.ndarray
    shift: np.ndarray

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """The calibrated probabilities of ``(n_spectra, n_bits)`` predicted ``probabilities``."""
        logits = probabilities_to_logits(probabilities)
        return 1.0 / (1.0 + np.exp(-(logits * self.scale + self.shift)))


def probabilities_to_logits(probabilities: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(probabilities, dtype=np.float64), _PROBABILITY_FLOOR, 1 - _PROBABILITY_FLOOR)
    return np.log(clipped) - np.log1p(-clipped)


def mean_log_loss(probabilities: np.ndarray, bits: np.ndarray) -> float:
    """Binary cross-entropy per bit and spectrum (nats), with the probability floor used everywhere here."""
    clipped = np.clip(np.asarray(probabilities, dtype=np.float64), _PROBABILITY_FLOOR, 1 - _PROBABILITY_FLOOR)
    bits = np.asarray(bits, dtype=bool)
    return float(-np.mean(np.where(bits, np.log(clipped), np.log1p(-clipped))))


def fit_bit_calibration(
    probabilities: np.ndarray, bits: np.ndarray, kind: str = "platt", regularisation: float = 1.0
) -> BitCalibration:
    """Fit the logit map on predicted ``probabilities`` and the true ``bits`` (both ``(n_spectra, n_bits)``).

    ``regularisation`` pulls every bit's ``(scale, shift)`` towards ``(1, 0)`` (an L2 penalty in units of one
    spectrum's cross-entropy): a bit seen set in three validation spectra must not get an extreme map.
    """
    if kind not in CALIBRATION_KINDS:
        raise ValueError(f"calibration kind must be one of {CALIBRATION_KINDS}, got {kind!r}")
    if probabilities.shape != bits.shape or probabilities.ndim != 2 or probabilities.shape[0] == 0:
        raise ValueError(
            f"probabilities {probabilities.shape} and bits {bits.shape} must be the same non-empty (spectra, bits)"
        )
    logits = torch.from_numpy(probabilities_to_logits(probabilities))
    targets = torch.from_numpy(np.asarray(bits, dtype=np.float64))
    n_bits = 1 if kind == "temperature" else probabilities.shape[1]
    scale = torch.ones(n_bits, dtype=torch.float64, requires_grad=True)
    shift = torch.zeros(n_bits, dtype=torch.float64, requires_grad=kind == "platt")
    parameters = [scale, shift] if kind == "platt" else [scale]
    optimiser = torch.optim.LBFGS(parameters, lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        optimiser.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(logits * scale + shift, targets, reduction="sum")
        loss = loss + regularisation * (((scale - 1) ** 2).sum() + (shift**2).sum())
        loss.backward()
        return loss

    optimiser.step(objective)
    full_scale = scale.detach().numpy().repeat(probabilities.shape[1] // n_bits)
    full_shift = shift.detach().numpy().repeat(probabilities.shape[1] // n_bits)
    return BitCalibration(kind, full_scale, full_shift)


def fold_into_linear(layer: nn.Linear, calibration: BitCalibration) -> None:
    """Make ``layer`` (whose outputs are the bits' logits) output the calibrated logits instead."""
    if layer.out_features != calibration.scale.size:
        raise ValueError(f"layer has {layer.out_features} outputs, calibration {calibration.scale.size} bits")
    scale = torch.as_tensor(calibration.scale, dtype=layer.weight.dtype, device=layer.weight.device)
    shift = torch.as_tensor(calibration.shift, dtype=layer.weight.dtype, device=layer.weight.device)
    with torch.no_grad():
        layer.weight.mul_(scale.unsqueeze(1))
        if layer.bias is None:
            layer.bias = nn.Parameter(shift.clone())
        else:
            layer.bias.mul_(scale).add_(shift)


def last_linear_layer(module: nn.Module) -> nn.Linear:
    """The last ``nn.Linear`` of a decoder (the one that outputs the bits' logits)."""
    linears = [layer for layer in module.modules() if isinstance(layer, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(module).__name__} has no Linear layer to calibrate")
    return linears[-1]
