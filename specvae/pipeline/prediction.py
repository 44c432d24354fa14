"""The prediction stage: each query's model predicts the probability of each kept fingerprint bit.

Spectra of one ion mode are predicted together, in fixed batches of :data:`PREDICTION_BATCH_SIZE` consecutive
spectra (input order), on one torch thread: so a spectrum's prediction, and every score made from it, is the same
whichever caller, process or chunk computes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import scipy.sparse
import torch

from mmcore import MultimodalVAE
from specvae.pipeline.models import LoadedModel
from specvae.pipeline.query import SpectrumQuery
from specvae.prediction import predict_fingerprint_probabilities

PREDICTION_BATCH_SIZE = 64
"""Spectra of one ion mode that are predicted together: consecutive in input order, on one torch thread.

Why fixed: the last bits of a matrix product depend on the batch it runs in (its size, a row's place in it) and
on the number of threads, so a spectrum predicted with other neighbours can score 1e-9 differently. With the
batches fixed by the input alone, a spectrum's predicted fingerprint, and so every score, is the same whichever
process or chunk computes it (:mod:`specvae.distributed` relies on this). 64 rows is also about the fastest
batch on one core (``predict_fingerprint_probabilities`` is flat from 64 to 128 rows and slower above).
"""


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (see :data:`PREDICTION_BATCH_SIZE` for why)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def predict_in_canonical_batches(model: MultimodalVAE, binned_spectra: scipy.sparse.csr_matrix) -> np.ndarray:
    """Predicted probabilities of binned spectra of one ion mode, batched as :data:`PREDICTION_BATCH_SIZE` says.

    Row ``i`` of the result is computed in the batch of rows ``i // PREDICTION_BATCH_SIZE``; callers that want
    the same numbers as the pipeline pass the spectra of one mode starting at a batch boundary.
    """
    with one_torch_thread():
        return predict_fingerprint_probabilities(model, binned_spectra, batch_size=PREDICTION_BATCH_SIZE)


def queries_of_mode(queries: Sequence[SpectrumQuery], ion_mode: str) -> list[SpectrumQuery]:
    """The queries served by the ``ion_mode`` model, in input order (the order their batches are cut in)."""
    return [query for query in queries if query.ion_mode == ion_mode]


def predict_queries(queries: Sequence[SpectrumQuery], models: Mapping[str, LoadedModel]) -> None:
    """Fill in each query's ``prediction`` with its ion mode's model, batch by batch in input order."""
    for mode, loaded in models.items():
        mode_queries = queries_of_mode(queries, mode)
        if not mode_queries:
            continue
        probabilities = predict_in_canonical_batches(
            loaded.model, loaded.binner.bin([query.spectrum for query in mode_queries])
        )
        for query, prediction in zip(mode_queries, probabilities, strict=True):
            query.prediction = prediction
