"""The three callers of the pipeline (``Annotator.annotate``, ``annotate_distributed`` and ``specvae benchmark``)
give identical scores and ranks on the same spectra, candidates and models: a small synthetic set with ties,
an InChI fallback and an unusable row, and (data) real CASMI 2016 challenges with the shipped models."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from specvae.annotator import Annotator
from specvae.benchmark import BenchmarkData, run_benchmark
from specvae.benchmark.challenges import CandidateList, Challenge
from specvae.benchmark.metrics import answer_rank
from specvae.errors import ErrorReport
from specvae.pipeline import AnnotationResults
from specvae.ranking import rank_scores
from specvae.spectra.metadata import spectrum_title
from specvae.spectra.reading import read_clean_spectra

distributed = pytest.importorskip("distributed", reason="the distributed extra (dask) is installed with the test extra")

from specvae.distributed import annotate_distributed  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

ESTERS = [
    ("a", "COC(=O)CCc1ccc(O)cc1", "XRAMJHXWXCMGJM-UHFFFAOYSA-N"),
    ("b", "CCOC(=O)c1ccc(O)cc1C", "KPFPCGFKQNSWSQ-UHFFFAOYSA-N"),
    ("c", "COc1ccc(CCC(=O)O)cc1", "FIUFLISGGHNPSM-UHFFFAOYSA-N"),
]
# Stereoisomers: one skeleton, the same fingerprint, so they tie.
ALANINES = [
    ("l-ala", "C[C@H](N)C(=O)O", "QNAYBMKLOCPYGJ-REOHCLBHSA-N"),
    ("d-ala", "C[C@@H](N)C(=O)O", "QNAYBMKLOCPYGJ-UWTATZPHSA-N"),
]
PYRROLE_INCHI = "InChI=1S/C4H5N/c1-2-4-5-3-1/h1-5H"
# (spectrum, identifier, SMILES, InChI, InChIKey): a SMILES RDKit cannot kekulise saved by its InChI, and a row
# neither of whose structures reads (no fingerprint anywhere: the benchmark keeps it unscored at the bottom).
ROWS = (
    [("pos-1", identifier, smiles, "", key) for identifier, smiles, key in ESTERS + ALANINES]
    + [
        ("pos-1", "pyrrole", "c1ccnc1", PYRROLE_INCHI, "KAESVJOAVNADME-UHFFFAOYSA-N"),
        ("pos-1", "hopeless", "C1CC", "InChI=1S/garbage", "YYYYYYYYYYYYYY-UHFFFAOYSA-N"),
        ("pos-2", "benzoic", "OC(=O)c1ccccc1", "", "WPYMKLBDIGXBTP-UHFFFAOYSA-N"),
    ]
    + [("pos-2", identifier, smiles, "", key) for identifier, smiles, key in ALANINES + ESTERS[:1]]
    + [("neg-1", identifier, smiles, "", key) for identifier, smiles, key in ESTERS + ALANINES]
)
ANSWERS = {"pos-1": ESTERS[0][2], "pos-2": ALANINES[1][2], "neg-1": ESTERS[2][2]}
MODES = {"pos-1": "positive", "pos-2": "positive", "neg-1": "negative"}
MGF = """BEGIN IONS
TITLE=pos-1
PEPMASS=181.0859
CHARGE=1+
IONMODE=POSITIVE
77.039 20
105.033 100
163.075 45
END IONS

BEGIN IONS
TITLE=pos-2
PEPMASS=90.0550
CHARGE=1+
IONMODE=POSITIVE
44.050 100
72.044 30
END IONS

BEGIN IONS
TITLE=neg-1
PEPMASS=179.0713
CHARGE=1-
IONMODE=NEGATIVE
59.013 100
119.050 30
END IONS
"""


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, timeout=120
        ) as cluster,
        distributed.Client(cluster, timeout=120) as dask_client,
    ):
        yield dask_client


def _scores_and_ranks(results: AnnotationResults) -> dict[str, dict[str, tuple[float, int]]]:
    """Per spectrum: each ranked InChIKey's ``(score, rank)``."""
    return {
        annotation.spectrum_id: {row.inchikey: (row.score, row.rank) for row in annotation.ranked}
        for annotation in results
    }


def _benchmark_scores_and_ranks(report) -> dict[str, dict[str, tuple[float, int]]]:
    """The same from a benchmark report: scored candidates only, ranked among themselves as annotate ranks them."""
    lists = {challenge.name: challenge.candidates for challenge in report.data.challenges}
    found = {}
    for result in report.main.results:
        scored = ~np.isnan(result.scores)
        keys = [key for key, keep in zip(lists[result.challenge].inchikeys, scored, strict=True) if keep]
        ranks = rank_scores(result.scores[scored])
        found[result.challenge] = {
            key: (float(score), int(rank)) for key, score, rank in zip(keys, result.scores[scored], ranks, strict=True)
        }
    return found


def _expected_ranks(results: AnnotationResults, answers: dict[str, str]) -> dict[str, float]:
    """The answer's expected rank from annotate's rows, as benchmarks/casmi_through_annotate.py computes it."""
    ranks = {}
    for annotation in results:
        rows = annotation.ranked
        answer = answers[annotation.spectrum_id][:14]
        is_answer = np.array([row.inchikey[:14] == answer for row in rows])
        ranks[annotation.spectrum_id] = answer_rank(-np.array([row.rank for row in rows], float), is_answer).expected
    return ranks


def _challenges(spectra_path: Path, rows, answers: dict[str, str], modes: dict[str, str]) -> list[Challenge]:
    spectra = {spectrum_title(spectrum): spectrum for spectrum in read_clean_spectra(spectra_path)}
    challenges = []
    for name in answers:
        own = [row for row in rows if row[0] == name]
        candidates = CandidateList(
            tuple(row[1] for row in own),
            tuple(row[4] for row in own),
            tuple(row[2] for row in own),
            tuple(row[3] for row in own),
        )
        challenges.append(Challenge(name, modes[name], spectra[name], candidates, answers[name]))
    return challenges


def test_annotate_dask_and_benchmark_give_identical_scores_and_ranks(tiny_models, client, tmp_path):
    spectra, candidates = tmp_path / "spectra.mgf", tmp_path / "candidates.csv"
    spectra.write_text(MGF)
    with open(candidates, "w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["spectrum_id", "identifier", "smiles", "inchi", "inchikey"])
        writer.writerows(ROWS)
    paths = [tiny_models["positive"], tiny_models["negative"]]

    annotated = Annotator.load(paths).annotate(spectra, candidates, top_k=None, errors=ErrorReport())
    on_dask = annotate_distributed(
        paths,
        spectra,
        candidates,
        scheduler=client,
        fingerprint_cache=tmp_path / "fp.h5",
        chunk_size=1,
        top_k=None,
        errors=ErrorReport(),
    )
    data = BenchmarkData("toy", "toy", tmp_path, _challenges(spectra, ROWS, ANSWERS, MODES))
    report = run_benchmark(data, model_paths=paths, n_workers=1, progress=False)

    expected = _scores_and_ranks(annotated)
    assert set(expected) == set(ANSWERS) and all(expected.values())
    assert _scores_and_ranks(on_dask) == expected
    assert _benchmark_scores_and_ranks(report) == expected  # scores compared with ==: bit for bit
    # the stereoisomers tie, the pyrrole is scored from its InChI, the hopeless row has no score in any path
    alanines = [expected["pos-1"][key] for _, _, key in ALANINES]
    assert alanines[0] == alanines[1]
    assert "KAESVJOAVNADME-UHFFFAOYSA-N" in expected["pos-1"]
    assert "YYYYYYYYYYYYYY-UHFFFAOYSA-N" not in expected["pos-1"]
    benchmark_ranks = {result.challenge: result.rank.expected for result in report.main.results}
    assert _expected_ranks(annotated, ANSWERS) == benchmark_ranks


@pytest.mark.data
@pytest.mark.slow
def test_three_callers_agree_on_real_casmi2016_challenges_with_the_shipped_models(client, tmp_path):
    from shared_helpers import real_data_path

    from specvae.benchmark import load_casmi2016
    from specvae.pipeline import pretrained_model_path

    casmi_dir = real_data_path("casmi2016/solutions.csv").parent
    data = load_casmi2016(casmi_dir.parent)
    chosen = []
    for mode in ("positive", "negative"):
        sizes = sorted((len(c.candidates), c.name) for c in data.challenges if c.ion_mode == mode)
        chosen += [name for size, name in sizes if size > 1][:3]
    report = run_benchmark(data, challenge_names=chosen, n_workers=1, progress=False)

    script = Path(__file__).resolve().parents[3] / "benchmarks" / "casmi_through_annotate.py"
    spec = importlib.util.spec_from_file_location("casmi_through_annotate", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        spectra, candidates, solutions = module.write_inputs(casmi_dir, tmp_path, chosen)
    finally:
        del sys.modules[spec.name]
    paths = [pretrained_model_path(mode) for mode in ("positive", "negative")]
    annotated = Annotator.load(paths).annotate(spectra, candidates, top_k=None, errors=ErrorReport())
    on_dask = annotate_distributed(
        paths,
        spectra,
        candidates,
        scheduler=client,
        fingerprint_cache=tmp_path / "fp.h5",
        chunk_size=2,
        top_k=None,
        errors=ErrorReport(),
    )
    expected = _scores_and_ranks(annotated)
    assert set(expected) == set(chosen)
    assert _scores_and_ranks(on_dask) == expected
    assert _benchmark_scores_and_ranks(report) == expected
    answers = {name: solution["inchikey"] for name, solution in solutions.items()}
    benchmark_ranks = {result.challenge: result.rank.expected for result in report.main.results}
    assert _expected_ranks(annotated, answers) == benchmark_ranks
