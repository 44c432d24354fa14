"""Annotation as a stream: the first spectra's rows come out (and reach the temporary output file) before the last
spectrum is read, and the results, the error report and the written file are the very ones of a run that takes
each stage over all spectra at once."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matchms import Spectrum

from specvae.annotator import Annotator
from specvae.errors import ErrorReport
from specvae.output import _json_annotation, annotations_to_tsv, write_annotation_stream
from specvae.pipeline import (
    PREDICTION_BATCH_SIZE,
    candidate_fingerprints,
    clean_records,
    plan_queries,
    predict_queries,
    rank_queries,
    read_candidate_set,
    read_spectrum_records,
    score_queries,
    shared_fingerprint,
    unique_candidates,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# A SMILES-only pool (no spectrum_id column): three isomers of C10H12O3 (180.0786 Da), two stereoisomers of alanine
# (89.0477 Da), a row that does not read (reported while reading) and one with a six-bonded carbon (indexed by
# mass, refused if a window ever holds it).
POOL = "\n".join(
    [
        "smiles",
        "COC(=O)CCc1ccc(O)cc1",
        "CCOC(=O)c1ccc(O)cc1C",
        "COc1ccc(CCC(=O)O)cc1",
        "C[C@H](N)C(=O)O",
        "C[C@@H](N)C(=O)O",
        "C1CC(",
        "CC(C)(C)(C)(C)CC(=O)O",
    ]
)
# More than two prediction batches of positive spectra, a few negative ones near the end, a spectrum without a
# precursor (not planned) and one whose window is empty (a no_candidates row).
N_SPECTRA = 2 * PREDICTION_BATCH_SIZE + 20


def _spectrum(index: int, rng: np.random.Generator) -> Spectrum:
    mz = np.sort(rng.uniform(40, 170, size=6))
    metadata = {"title": f"s{index}", "ionmode": "positive", "charge": 1}
    if index >= N_SPECTRA - 12 and index % 3 == 0:
        metadata.update(ionmode="negative", charge=-1, precursor_mz=179.0713)
    elif index == 3:
        pass  # no precursor m/z
    elif index == 7:
        metadata["precursor_mz"] = 300.0  # nothing in the pool
    else:
        metadata["precursor_mz"] = 90.0550 if index % 2 else 181.0859
    return Spectrum(mz=mz, intensities=rng.uniform(1, 100, size=6), metadata=metadata)


def spectra() -> list[Spectrum]:
    rng = np.random.default_rng(7)
    return [_spectrum(index, rng) for index in range(N_SPECTRA)]


@pytest.fixture
def annotator(tiny_models) -> Annotator:
    return Annotator.load([tiny_models["positive"], tiny_models["negative"]])


@pytest.fixture
def pool(tmp_path):
    path = tmp_path / "pool.csv"
    path.write_text(POOL + "\n")
    return path


def stage_by_stage(annotator: Annotator, pool, explain: bool = False) -> tuple[list, list]:
    """Each stage over all spectra before the next one starts: what annotate did before it streamed."""
    errors = ErrorReport()
    candidate_set = read_candidate_set(pool, errors)
    queries = clean_records(read_spectrum_records(spectra()), errors)
    queries = plan_queries(queries, annotator.models, candidate_set, 10.0, None, errors, progress=False)
    fingerprints = candidate_fingerprints(
        unique_candidates(queries), shared_fingerprint(annotator.models), errors=errors, source=str(pool)
    )
    predict_queries(queries, annotator.models)
    score_queries(queries, fingerprints, annotator.models)
    results = rank_queries(
        queries, annotator.models, top_k=3, explain=explain, fingerprints=fingerprints, errors=errors
    )
    results.explained = explain
    return results, list(errors)


def test_first_spectra_are_ranked_before_the_last_spectrum_is_read(annotator, pool):
    read = []

    def reading():  # a generator: a spectrum is handed over only when the run asks for it
        for spectrum in spectra():
            read.append(spectrum.get("title"))
            yield spectrum

    errors = ErrorReport()
    read_when_ranked = []
    streamed = []
    for annotation in annotator.iter_annotations(reading(), pool, top_k=3, errors=errors):
        read_when_ranked.append(len(read))
        streamed.append(annotation)
    # The first positive batch is ranked as soon as it is complete, long before the input ends.
    assert read_when_ranked[0] <= PREDICTION_BATCH_SIZE + 2 < N_SPECTRA
    assert streamed[0].spectrum_id == "s0" and streamed[0].ranked

    expected, expected_errors = stage_by_stage(annotator, pool)
    assert [annotation.spectrum_id for annotation in streamed] == [annotation.spectrum_id for annotation in expected]
    assert [row.as_dict() for a in streamed for row in a.output_rows()] == expected.rows()  # scores bit for bit
    assert [str(error) for error in errors] == [str(error) for error in expected_errors]
    assert {annotation.status for annotation in streamed} == {"ok", "no_candidates"}
    assert any(annotation.ion_mode == "negative" for annotation in streamed)


@pytest.mark.parametrize("output_format", ["tsv", "json"])
def test_rows_reach_the_temporary_file_as_each_spectrum_is_ranked(annotator, pool, tmp_path, output_format):
    output = tmp_path / "out" / f"annotations.{output_format}"
    output.parent.mkdir()
    seen_before_last = {}

    def watched():
        annotations = list(annotator.iter_annotations(spectra(), pool, top_k=3, explain=True, errors=ErrorReport()))
        for index, annotation in enumerate(annotations):
            if index == len(annotations) - 1:  # the writer has handled every earlier spectrum
                temporaries = [path for path in output.parent.iterdir() if path != output]
                seen_before_last["target"] = output.exists()
                seen_before_last["written"] = temporaries[0].read_text() if len(temporaries) == 1 else None
            yield annotation

    n_annotated = write_annotation_stream(watched(), output, output_format, explained=True)

    expected, _ = stage_by_stage(annotator, pool, explain=True)
    assert n_annotated == len(expected.annotated())
    if output_format == "tsv":
        whole = annotations_to_tsv(expected.rows(), expected.columns())
    else:
        whole = json.dumps([_json_annotation(annotation, True) for annotation in expected], indent=1)
    assert output.read_text() == whole  # the same bytes as the table written at once
    assert not seen_before_last["target"]  # the output appears only when complete
    assert seen_before_last["written"] is not None and len(seen_before_last["written"]) > len(whole) // 2
    assert whole.startswith(seen_before_last["written"])
    assert [path.name for path in output.parent.iterdir()] == [output.name]  # no temporary file left


@pytest.mark.parametrize("output_format", ["tsv", "json"])
def test_an_empty_stream_writes_what_an_empty_table_is(tmp_path, output_format):
    output = tmp_path / f"empty.{output_format}"
    assert write_annotation_stream(iter(()), output, output_format) == 0
    assert output.read_text() == (annotations_to_tsv([]) if output_format == "tsv" else json.dumps([], indent=1))


def test_a_failing_run_leaves_the_previous_output_as_it_was(annotator, pool, tmp_path):
    output = tmp_path / "annotations.tsv"
    output.write_text("previous\n")

    def failing():
        yield from annotator.iter_annotations(spectra()[:3], pool, errors=ErrorReport())
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_annotation_stream(failing(), output)
    assert output.read_text() == "previous\n"
    assert [path.name for path in tmp_path.iterdir() if path.name != "pool.csv"] == ["annotations.tsv"]
