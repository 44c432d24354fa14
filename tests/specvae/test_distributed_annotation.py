"""Annotation on a 2-worker local Dask cluster gives exactly what one process gives: order, ranks, scores, errors.

The cluster (two worker processes, one thread each) is started once for the module and always closed.
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from rdkit import Chem
from tests_specvae_inputs import CANDIDATES, MGF, POOL_MGF

distributed = pytest.importorskip("distributed", reason="the distributed extra (dask) is installed with the test extra")

from specvae.annotator import PREDICTION_BATCH_SIZE, Annotator, predict_in_canonical_batches  # noqa: E402
from specvae.distributed import (  # noqa: E402
    DistributedAnnotationError,
    annotate_distributed,
    parse_scheduler,
)
from specvae.errors import ErrorReport, InputFileError  # noqa: E402
from specvae.fingerprints import FingerprintCache  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TIMEOUT_S = 120
PROTON_DA = 1.007276


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, timeout=TIMEOUT_S
    ) as local_cluster:
        yield local_cluster


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster, timeout=TIMEOUT_S) as dask_client:
        yield dask_client


@pytest.fixture(scope="module")
def shipped_models() -> list[Path]:
    """The real models: their 10,000-bin and 2,188-bit layers are where batch composition changes the last bits."""
    return [
        Path(str(resources.files("specvae") / "pretrained" / f"{mode}.specvae")) for mode in ("positive", "negative")
    ]


def _same(local, remote) -> None:
    """Equal annotations, field by field, scores compared with == (bit for bit)."""
    assert [a.spectrum_id for a in remote] == [a.spectrum_id for a in local]
    for expected, got in zip(local, remote, strict=True):
        assert (got.ion_mode, got.n_candidates) == (expected.ion_mode, expected.n_candidates)
        assert [row.as_dict() for row in got.ranked] == [row.as_dict() for row in expected.ranked]
        assert [row.score for row in got.ranked] == [row.score for row in expected.ranked]


# ------------------------------------------------------------------------------------ the small shared inputs
def test_small_inputs_in_chunks_of_one_match_one_process(tiny_models, client, tmp_path):
    spectra, candidates = tmp_path / "spectra.mgf", tmp_path / "candidates.csv"
    spectra.write_text(MGF)
    candidates.write_text(CANDIDATES)
    paths = [tiny_models["positive"], tiny_models["negative"]]

    local_errors = ErrorReport()
    local = Annotator.load(paths).annotate(spectra, candidates, top_k=2, errors=local_errors)
    remote_errors = ErrorReport()
    remote = annotate_distributed(
        paths,
        spectra,
        candidates,
        scheduler=client.scheduler.address,  # through the address, as --scheduler tcp://... would
        fingerprint_cache=tmp_path / "cache.h5",
        chunk_size=1,
        top_k=2,
        errors=remote_errors,
        task_timeout_s=TIMEOUT_S,
    )
    _same(local, remote)
    assert [a.spectrum_id for a in remote] == ["pos-1", "neg-1", "odd-adduct"]
    assert list(remote_errors) == list(local_errors)
    # The spectrum without precursor is reported with its record when it is cleaned; the invalid SMILES with the
    # candidate file's row when its list is built, for the first spectrum that needs it.
    assert [(e.file, e.record, e.title) for e in remote_errors] == [
        (str(spectra), 2, "no-precursor"),
        (str(candidates), 4, "bad"),
    ]


def test_chunked_errors_name_the_record_in_the_file(tiny_models, client, tmp_path):
    """In chunks of one spectrum, a spectrum rejected at ranking time still gets its record number in the file."""
    spectra, pool = tmp_path / "pool.mgf", tmp_path / "pool.csv"
    spectra.write_text(POOL_MGF)
    pool.write_text("SMILES\nCOC(=O)CCc1ccc(O)cc1\nCCO\n")
    errors = ErrorReport()
    remote = annotate_distributed(
        tiny_models["positive"],
        spectra,
        pool,
        scheduler=client.scheduler.address,
        fingerprint_cache=tmp_path / "cache.h5",
        chunk_size=1,
        errors=errors,
        task_timeout_s=TIMEOUT_S,
    )
    # the spectrum without a candidate in its window keeps a place in the results (one status row in the table)
    assert [(annotation.spectrum_id, annotation.status) for annotation in remote] == [
        ("fits", "ok"),
        ("nothing-fits", "no_candidates"),
    ]
    assert [row["status"] for row in remote.rows()][-1] == "no_candidates"
    assert [(error.record, error.title) for error in errors] == [(1, "unreadable"), (3, "nothing-fits")]


# ----------------------------------------------------------------------------- many spectra, a candidate pool
def _pool_inputs(directory: Path, n_spectra: int, seed: int) -> tuple[Path, Path]:
    """Synthetic spectra (random peaks, seeded) at the masses of the example candidate pool, plus bad records.

    The pool is the shipped example candidates without their spectrum ids, and two extra rows: one whose SMILES
    RDKit refuses but whose InChI reads (fingerprinted through the InChI, outside the cache), and one with stated
    key, formula and mass but an unreadable SMILES and no InChI, alone at 555.555 Da (a spectrum there has no
    candidate with a fingerprint).
    """
    rows = list(csv.DictReader(resources.files("specvae").joinpath("examples/example_candidates.csv").open()))
    columns = ["Identifier", "CompoundName", "MonoisotopicMass", "MolecularFormula", "SMILES", "InChI", "InChIKey"]
    inchi = Chem.MolToInchi(Chem.MolFromSmiles("CCCCCCCCCCCCO"))  # dodecanol, 186.198 Da
    extra = [
        {"Identifier": "via-inchi", "CompoundName": "via-inchi", "SMILES": "CCCCCCCCCCCC(O", "InChI": inchi},
        {
            "Identifier": "unreadable",
            "CompoundName": "unreadable",
            "SMILES": "C1CC(",
            "InChIKey": "AAAAAAAAAAAAAA-BBBBBBBBBB-N",
            "MolecularFormula": "C30H50",
            "MonoisotopicMass": "555.555",
        },
    ]
    candidates = directory / "pool.csv"
    with candidates.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows + extra)

    rng = np.random.default_rng(seed)
    positive_masses = [166.0968, 214.9712, 469.2975, 186.1984]
    negative_masses = [214.9712, 256.0040]
    blocks = []
    for index in range(n_spectra):
        negative = rng.random() < 0.3
        mass = rng.choice(negative_masses if negative else positive_masses) * (1 + rng.normal(0, 2e-6))
        precursor = mass - PROTON_DA if negative else mass + PROTON_DA
        mz = np.sort(rng.uniform(40.0, precursor - 1.0, size=rng.integers(3, 25)))
        peaks = "\n".join(f"{m:.4f} {i:.1f}" for m, i in zip(mz, rng.uniform(1, 1000, size=mz.size), strict=True))
        mode, charge, adduct = ("NEGATIVE", "1-", "[M-H]-") if negative else ("POSITIVE", "1+", "[M+H]+")
        blocks.append(
            f"BEGIN IONS\nTITLE=s{index:03d}\nPEPMASS={precursor:.5f}\nCHARGE={charge}\nIONMODE={mode}\n"
            f"ADDUCT={adduct}\n{peaks}\nEND IONS\n"
        )
    bad = [
        "BEGIN IONS\nTITLE=no-precursor\nCHARGE=1+\nIONMODE=POSITIVE\n77.0 10\nEND IONS\n",
        "BEGIN IONS\nTITLE=odd-adduct\nPEPMASS=167.1\nCHARGE=1+\nIONMODE=POSITIVE\nADDUCT=[M+Xx]+\n77.0 10\nEND IONS\n",
        "BEGIN IONS\nTITLE=no-candidate\nPEPMASS=900.0\nCHARGE=1+\nIONMODE=POSITIVE\n77.0 10\nEND IONS\n",
        "BEGIN IONS\nTITLE=unscorable\nPEPMASS=556.562276\nCHARGE=1+\nIONMODE=POSITIVE\n77.0 10\nEND IONS\n",
        "BEGIN IONS\nTITLE=broken\nPEPMASS=200.0\n77.0 ten\nEND IONS\n",
    ]
    for position, block in zip((3, 40, 41, 77, 120), bad, strict=True):
        blocks.insert(position, block)
    spectra = directory / "spectra.mgf"
    spectra.write_text("\n".join(blocks))
    return spectra, candidates


def test_pool_of_many_spectra_in_uneven_chunks_matches_one_process_bit_for_bit(shipped_models, client, tmp_path):
    spectra, candidates = _pool_inputs(tmp_path, n_spectra=150, seed=7)
    local_errors = ErrorReport()
    local = Annotator.load(shipped_models).annotate(spectra, candidates, top_k=5, errors=local_errors)
    modes = [a.ion_mode for a in local]
    # More positive spectra than one prediction batch, so chunks of 37 cut batches in several places.
    assert modes.count("positive") > PREDICTION_BATCH_SIZE and modes.count("negative") > 20
    assert np.mean([a.n_candidates for a in local]) > 10
    assert len({row.score for a in local for row in a.ranked}) > 100  # scores that tell candidates apart

    cache = tmp_path / "cache.h5"
    remote_errors = ErrorReport()
    remote = annotate_distributed(
        shipped_models,
        spectra,
        candidates,
        scheduler=client,
        fingerprint_cache=cache,
        chunk_size=37,
        top_k=5,
        errors=remote_errors,
        task_timeout_s=TIMEOUT_S,
    )
    _same(local, remote)
    assert list(remote_errors) == list(local_errors)
    by_title = {error.title: error.reason for error in remote_errors}
    assert set(by_title) == {"no-precursor", "odd-adduct", "no-candidate", "unscorable", "broken", "unreadable"}
    assert by_title["unscorable"] == "no candidate could be fingerprinted"
    assert "M+Xx" in by_title["odd-adduct"]
    # Dodecanol was fingerprinted through its InChI and ranked for the spectra at its mass.
    assert any(row.identifier == "via-inchi" for a in remote for row in a.ranked)

    # The client filled the cache; a second run reads it and nobody rewrites the file.
    stat = cache.stat()
    assert len(FingerprintCache(cache, Annotator.load(shipped_models).full_fingerprint)) > 200
    again = annotate_distributed(
        shipped_models, spectra, candidates, scheduler=client, fingerprint_cache=cache, chunk_size=64, top_k=5
    )
    _same(local, again)
    assert (cache.stat().st_ino, cache.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def test_models_are_loaded_once_per_worker(shipped_models, client, tmp_path):
    spectra, candidates = _pool_inputs(tmp_path, n_spectra=10, seed=3)
    cache = tmp_path / "cache.h5"
    options = {"scheduler": client, "fingerprint_cache": cache, "chunk_size": 4}
    annotate_distributed(shipped_models, spectra, candidates, **options)
    loaded_first = client.run(_loaded_annotators, str(cache.resolve()))
    annotate_distributed(Annotator.load(shipped_models), spectra, candidates, **options)
    loaded_again = client.run(_loaded_annotators, str(cache.resolve()))
    assert len(loaded_first) == 2
    # Each worker holds one annotator for these models, the same object after the second run: not sent again.
    assert loaded_again == loaded_first
    assert all(len(annotators) == 1 for annotators in loaded_first.values())
    assert all(annotators[0][2] == ("positive", "negative") for annotators in loaded_first.values())


def _loaded_annotators(cache: str, dask_worker=None) -> list[tuple[str, int, tuple[str, ...]]]:
    """On a worker: the specvae plugins reading ``cache``, with the identity of their loaded annotator."""
    return [
        (name, id(plugin.annotator), tuple(plugin.annotator.models))
        for name, plugin in dask_worker.plugins.items()
        if name.startswith("specvae-annotator-") and plugin.fingerprint_cache == cache
    ]


# ----------------------------------------------------------------------------------------- the fixed batches
def test_a_batch_predicted_alone_equals_its_rows_in_the_whole_run(shipped_models):
    """What lets a worker predict only its chunk's batches: rows depend on their batch, not on other batches."""
    annotator = Annotator.load(shipped_models[0])
    loaded = annotator.models["positive"]
    rng = np.random.default_rng(0)
    n_rows = 2 * PREDICTION_BATCH_SIZE + 9
    dense = np.where(rng.random((n_rows, loaded.binner.n_bins)) < 0.003, rng.random((n_rows, loaded.binner.n_bins)), 0)
    binned = scipy.sparse.csr_matrix(dense.astype(np.float32))
    whole = predict_in_canonical_batches(loaded.model, binned)
    second = predict_in_canonical_batches(loaded.model, binned[PREDICTION_BATCH_SIZE:])
    assert np.array_equal(second, whole[PREDICTION_BATCH_SIZE:])
    last = predict_in_canonical_batches(loaded.model, binned[2 * PREDICTION_BATCH_SIZE :])
    assert np.array_equal(last, whole[2 * PREDICTION_BATCH_SIZE :])


# -------------------------------------------------------------------------------------- arguments and errors
@pytest.mark.parametrize(
    ("text", "workers", "address"),
    [("local:2", 2, None), ("LOCAL:16", 16, None), ("tcp://10.0.0.5:8786", None, "tcp://10.0.0.5:8786")],
)
def test_parse_scheduler(text, workers, address):
    spec = parse_scheduler(text)
    assert (spec.local_workers, spec.address) == (workers, address)


@pytest.mark.parametrize("text", ["", "local:0", "local:two", "local:"])
def test_parse_scheduler_rejects_bad_local_counts(text):
    with pytest.raises(DistributedAnnotationError, match="local:N|empty"):
        parse_scheduler(text)


def test_needs_a_cache_and_a_readable_spectrum_file(tiny_models, tmp_path):
    candidates = tmp_path / "candidates.csv"
    candidates.write_text(CANDIDATES)
    with pytest.raises(ValueError, match="fingerprint cache"):
        annotate_distributed(tiny_models["positive"], tmp_path / "x.mgf", candidates, scheduler="local:1")
    # Checked before any cluster starts (a local:2 cluster would take seconds).
    with pytest.raises(InputFileError, match="no such file"):
        annotate_distributed(
            tiny_models["positive"],
            tmp_path / "missing.mgf",
            candidates,
            scheduler="local:2",
            fingerprint_cache=tmp_path / "c.h5",
        )
    with pytest.raises(TypeError, match="from a file"):
        annotate_distributed(
            tiny_models["positive"], [], candidates, scheduler="local:2", fingerprint_cache=tmp_path / "c.h5"
        )
