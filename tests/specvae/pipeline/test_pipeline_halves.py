"""Scoring and ranking a chunk in two processes gives the results, scores and error order of one process, also
when the forked child fails."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
from test_pipeline_streaming import POOL, spectra

from specvae.annotator import Annotator
from specvae.errors import ErrorReport
from specvae.pipeline import (
    candidate_fingerprints,
    clean_records,
    halves,
    plan_queries,
    predict_queries,
    read_candidate_set,
    read_spectrum_records,
    shared_fingerprint,
    unique_candidates,
)
from specvae.pipeline.halves import score_and_rank

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="the second process is forked"),
]


@pytest.fixture
def predicted(tiny_models, tmp_path):
    """The planned and predicted queries of the streaming tests' spectra, their fingerprints and models."""
    annotator = Annotator.load([tiny_models["positive"], tiny_models["negative"]])
    path = tmp_path / "pool.csv"
    path.write_text(POOL + "\n")
    errors = ErrorReport()
    queries = clean_records(read_spectrum_records(spectra()), errors)
    queries = plan_queries(queries, annotator.models, read_candidate_set(path, errors), 10.0, None, errors)
    fingerprints = candidate_fingerprints(unique_candidates(queries), shared_fingerprint(annotator.models))
    # The alanines lose their fingerprints, so that every other spectrum (in both halves) is a ranking error.
    alanine = next(query for query in queries if query.spectrum_id == "s1")
    for match in alanine.matches:
        fingerprints.row_of.pop(match.candidate.structure_identity())
    predict_queries(queries, annotator.models)
    return queries, fingerprints, annotator.models


def _run(predicted, n_workers: int):
    queries, fingerprints, models = predicted
    queries = copy.deepcopy(queries)
    errors = ErrorReport()
    errors.add("earlier", 1, "a report made before this stage")
    annotations = score_and_rank(
        queries, fingerprints, models, top_k=None, explain=True, errors=errors, progress=False, n_workers=n_workers
    )
    return queries, annotations, list(errors)


@pytest.mark.parametrize("child_fails", [False, True])
def test_two_processes_give_the_results_of_one(predicted, monkeypatch, child_fails):
    monkeypatch.setattr(halves, "MIN_MATCHES_TO_SPLIT", 0)
    forks = []
    real_fork = os.fork

    def counted_fork():
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(halves.os, "fork", counted_fork)
    if child_fails:
        monkeypatch.setattr(halves, "_run_child", lambda work, write_fd: os._exit(3))
    one_queries, one, one_errors = _run(predicted, 1)
    assert not forks
    two_queries, two, two_errors = _run(predicted, 2)
    assert forks == [1]
    assert two == one
    assert two_errors == one_errors and len(one_errors) > 50
    for alone, split in zip(one_queries, two_queries, strict=True):
        assert np.array_equal(alone.scores, split.scores, equal_nan=True)


def test_a_small_chunk_is_not_split(predicted, monkeypatch):
    monkeypatch.setattr(halves.os, "fork", lambda: pytest.fail("forked for a small chunk"))
    _run(predicted, 2)
