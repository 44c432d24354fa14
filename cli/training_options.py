"""Command-line options shared by every command that trains a spectrum model (``specvae train``,
``specvae benchmark train-baseline``): the same words mean the same settings, so a baseline and a fusion model
can be trained by one rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

CALIBRATION_CHOICES = ("platt", "temperature", "bit-temperature")


def convergence_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--epochs``, ``--early-stopping-patience``, ``--lr-decay-patience`` and ``--calibration``."""
    decorators = [
        click.option("--epochs", type=int, default=30, show_default=True, help="Most epochs to train."),
        click.option(
            "--early-stopping-patience",
            type=int,
            default=None,
            help="Stop once validation retrieval has not improved for this many epochs.",
        ),
        click.option(
            "--lr-decay-patience",
            type=int,
            default=None,
            help="Halve the learning rate after this many epochs without a better validation retrieval.",
        ),
        click.option(
            "--calibration",
            type=click.Choice(CALIBRATION_CHOICES),
            default=None,
            help="Calibrate the predicted bits on the validation spectra after training "
            "(per-bit Platt, one temperature, or one per bit).",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def capacity_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--depth`` (hidden layers of the decoders), ``--batch-norm`` and ``--dropout`` (on the first, widest layer's
    output): of the feed-forward network, or of every decoder and encoder of a fusion model."""
    decorators = [
        click.option(
            "--depth", type=click.IntRange(1), default=1, show_default=True, help="Hidden layers of the decoders."
        ),
        click.option("--batch-norm", is_flag=True, help="Batch normalisation after the first layer (of each encoder)."),
        click.option(
            "--dropout",
            type=click.FloatRange(0.0, 1.0, max_open=True),
            default=0.0,
            show_default=True,
            help="Dropout after the first layer (of each encoder), in training.",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function
