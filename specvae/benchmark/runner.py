"""One benchmark run: choose challenges, load systems, refuse leaked models, fingerprint candidates, rank, summarise.

Example (a notebook)::

    from specvae.benchmark import load_casmi2016, run_benchmark, write_report
    data = load_casmi2016("/data")                      # or $SPECVAE_DATA_DIR
    report = run_benchmark(data, comparisons=[("VAEVAE", "positive_vaevae.specvae")], fingerprint_cache="fp.h5")
    write_report(report, "report/")
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from specvae.benchmark.challenges import ION_MODES, BenchmarkData
from specvae.benchmark.evaluation import answer_mask, challenge_candidates, challenge_queries, evaluate_systems
from specvae.benchmark.leakage import check_training_overlap
from specvae.benchmark.models import build_systems
from specvae.benchmark.published import PUBLISHED
from specvae.benchmark.report import BenchmarkReport
from specvae.fingerprints import FingerprintCache
from specvae.pipeline.fingerprints import candidate_fingerprints


def run_benchmark(
    data: BenchmarkData,
    *,
    model_paths: Sequence[str | os.PathLike[str]] = (),
    comparisons: Sequence[tuple[str, str | os.PathLike[str]]] = (),
    ion_modes: Sequence[str] = ION_MODES,
    challenge_names: Sequence[str] | None = None,
    fingerprint_cache: str | os.PathLike[str] | None = None,
    rebuild_cache: bool = False,
    n_workers: int = 1,
    force: bool = False,
    command: str = "",
    started: float | None = None,
    timings: dict[str, float] | None = None,
    progress: bool | None = None,
) -> BenchmarkReport:
    """Rank the chosen challenges with the main models (default: the shipped ones) and every comparison model.

    ``comparisons`` are ``(label, model path)`` pairs; a label given twice groups a positive and a negative model.
    Raises :class:`~specvae.benchmark.leakage.BenchmarkRefusedError` when a model's training structures include an
    answer of the challenges it would rank, unless ``force``. ``started`` (a ``time.perf_counter`` value) makes the
    report's total time include what the caller did before (importing, reading the data), and ``timings`` adds
    the caller's own step times (seconds) to the report's. ``rebuild_cache`` moves a damaged ``fingerprint_cache``
    aside and rebuilds it (``report.bits.moved_aside`` lists what was moved) instead of raising.
    """
    started = time.perf_counter() if started is None else started
    timings = dict(timings or {})
    selected = data.select(ion_modes, challenge_names)
    if not selected.challenges:
        raise ValueError(f"{data.name}: no challenge in {', '.join(ion_modes)} mode matches the selection")

    step = time.perf_counter()
    systems = build_systems(model_paths, comparisons, ion_modes)
    answers_by_mode = {mode: selected.answer_first_blocks((mode,)) for mode in ion_modes}
    leakage = check_training_overlap(systems, answers_by_mode, force)
    definitions = {model.fingerprint.without_mask() for system in systems for model in system.models.values()}
    if len(definitions) != 1:
        raise ValueError("the models use different fingerprint definitions; benchmark them in separate runs")
    timings["load_models_s"] = time.perf_counter() - step

    step = time.perf_counter()
    definition = definitions.pop()
    cache = (
        None
        if fingerprint_cache is None
        else FingerprintCache(fingerprint_cache, definition, rebuild_damaged=rebuild_cache)
    )
    # every list's candidates, also those of challenges without a spectrum, each structure once (not each InChIKey:
    # lists that give one key different tautomers each rank their own, as annotate does)
    distinct = {}
    for challenge in selected.challenges:
        for candidate in challenge_candidates(challenge):
            distinct.setdefault(candidate.structure_identity(), candidate)
    bits = candidate_fingerprints(
        list(distinct.values()), definition, cache=cache, n_workers=n_workers, progress=progress
    )
    timings["candidate_fingerprints_s"] = time.perf_counter() - step

    step = time.perf_counter()
    runs = evaluate_systems(systems, selected.challenges, bits, challenge_queries(selected.challenges))
    timings["predict_and_rank_s"] = time.perf_counter() - step
    random_lists = {
        challenge.name: (len(challenge.candidates), int(answer_mask(challenge).sum()))
        for challenge in selected.challenges
    }
    timings["total_s"] = time.perf_counter() - started
    return BenchmarkReport(
        data=selected,
        ion_modes=tuple(ion_modes),
        systems=systems,
        runs=runs,
        random_lists=random_lists,
        leakage=leakage,
        forced=force,
        bits=bits,
        fingerprint_cache=None if fingerprint_cache is None else str(fingerprint_cache),
        n_workers=n_workers,
        timings=timings,
        command=command,
        published=PUBLISHED.get(data.name, ()),
    )
