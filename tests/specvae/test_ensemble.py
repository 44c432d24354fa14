"""An ensemble model file predicts the mean of its members, is used like any model file, and refuses members that
cannot be combined."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from shared_helpers import write_tiny_model
from test_baseline import train_tiny_model

from specvae.annotator import Annotator
from specvae.architecture import FINGERPRINT, SPECTRUM
from specvae.ensemble import EnsembleError, build_ensemble
from specvae.ensemble_network import ENSEMBLE, FingerprintEnsemble
from specvae.model_file import ModelFileError, load_model, read_metadata
from specvae.output import describe_model
from specvae.prediction import predict_fingerprint_probabilities, retrieval_ranks, retrieval_summary
from specvae.training import TrainingOptions, TrainingSetError, calibrate_model_file, prepare_training_inputs
from specvae_cli.specvae_benchmark_cli import benchmark
from specvae_cli.specvae_cli import main


@pytest.fixture
def members(tmp_path):
    """Three positive-mode members of three kinds on the same bins and kept bits."""
    return [
        write_tiny_model(tmp_path / f"{fusion}.specvae", "positive", seed=seed, fusion=fusion)
        for seed, fusion in enumerate(("svae", "feedforward", "vaevae"))
    ]


def test_the_ensemble_predicts_the_mean_of_its_members(tmp_path, members):
    output = tmp_path / "ensemble.specvae"
    build_ensemble(members, output)
    ensemble, metadata = load_model(output)
    assert isinstance(ensemble, FingerprintEnsemble) and metadata.architecture.fusion == ENSEMBLE
    spectra = (torch.rand(5, metadata.architecture.n_bins, generator=torch.Generator().manual_seed(0)) > 0.98).float()
    predicted = ensemble.cross_generate({SPECTRUM: spectra}, [SPECTRUM], [FINGERPRINT])[FINGERPRINT]
    each = [load_model(path)[0].cross_generate({SPECTRUM: spectra}, [SPECTRUM], [FINGERPRINT]) for path in members]
    torch.testing.assert_close(predicted, torch.stack([one[FINGERPRINT] for one in each]).mean(0))
    # the members differ, so the mean is not any one of them
    assert not torch.allclose(each[0][FINGERPRINT], each[1][FINGERPRINT])
    with pytest.raises(ValueError, match="spectrum -> fingerprint only"):
        ensemble.cross_generate({FINGERPRINT: predicted}, [FINGERPRINT], [SPECTRUM])


@pytest.mark.filterwarnings("ignore::specvae.annotator.SkippedRecordsWarning")
def test_two_copies_of_one_model_annotate_exactly_as_the_model(tmp_path, members, inputs):
    spectra, candidates = inputs
    output = tmp_path / "twice.specvae"
    build_ensemble([members[0], members[0]], output)
    alone = Annotator.load(members[0]).annotate(spectra, candidates, top_k=5)
    twice = Annotator.load(output).annotate(spectra, candidates, top_k=5)
    alone_rows, twice_rows = alone.rows(), twice.rows()
    assert len(alone_rows) == len(twice_rows) > 0
    for one, other in zip(alone_rows, twice_rows, strict=True):
        assert {key: value for key, value in one.items() if key != "score"} == {
            key: value for key, value in other.items() if key != "score"
        }
        assert other["score"] == pytest.approx(one["score"], rel=1e-5)


def test_the_file_lists_every_structure_any_member_saw_and_how_each_was_trained(tmp_path, members):
    output = tmp_path / "ensemble.specvae"
    seen = {path: read_metadata(path).training_structures for path in members}
    build_ensemble(members, output, command="specvae ensemble ...")
    metadata = read_metadata(output)
    assert metadata.training_structures == set().union(*seen.values())
    assert [member["file"] for member in metadata.training["members"]] == [path.name for path in members]
    assert metadata.training["sources"] == "test"  # what every member states about its data
    text = describe_model(metadata)
    assert "ensemble of 3: svae" in text and "feedforward" in text and "vaevae" in text
    assert text.count("member ") == 3


def test_data_stated_as_json_text_by_one_member_and_as_a_list_by_another_agrees(tmp_path, members):
    from specvae.model_file import save_model

    model, metadata = load_model(members[1])
    metadata.training = {**metadata.training, "licenses": '["CC0", "CC BY"]'}
    save_model(members[1], model, metadata)
    model, metadata = load_model(members[0])
    metadata.training = {**metadata.training, "licenses": ["CC0", "CC BY"]}
    save_model(members[0], model, metadata)
    output = tmp_path / "ensemble.specvae"
    build_ensemble(members[:2], output)
    assert read_metadata(output).training["licenses"] == ["CC0", "CC BY"]
    build_ensemble(members, output)  # the third member states no licenses: the ensemble does not either
    assert "licenses" not in read_metadata(output).training


def test_members_that_cannot_be_combined_are_refused_naming_the_file(tmp_path, members):
    negative = write_tiny_model(tmp_path / "negative.specvae", "negative", fusion="svae")
    with pytest.raises(EnsembleError, match=r"negative\.specvae: its ion mode differ"):
        build_ensemble([members[0], negative], tmp_path / "out.specvae")
    with pytest.raises(EnsembleError, match="at least two"):
        build_ensemble(members[:1], tmp_path / "out.specvae")
    assert not (tmp_path / "out.specvae").exists()


def test_a_damaged_member_weight_is_caught(tmp_path, members):
    output = tmp_path / "ensemble.specvae"
    build_ensemble(members, output)
    data = bytearray(output.read_bytes())
    data[-3] ^= 0x10
    output.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="do not match their stored checksum"):
        load_model(output)


def test_an_ensemble_is_calibrated_through_its_members(tmp_path, members):
    output = tmp_path / "ensemble.specvae"
    build_ensemble(members, output)
    with pytest.raises(TrainingSetError, match="calibrate each"):
        calibrate_model_file(output, tmp_path / "unused.h5", tmp_path / "calibrated.specvae")


def test_the_command_measures_the_ensemble_on_the_members_validation_spectra(tmp_path):
    training_set, svae = train_tiny_model(tmp_path)
    feedforward = tmp_path / "feedforward.specvae"
    arguments = ["train-baseline", str(training_set), "-o", str(feedforward), "--epochs", "2", "--batch-size", "8"]
    arguments += ["--latent-dim", "4", "--hidden-dim", "8", "--min-bit-count", "1", "--num-threads", "1"]
    assert CliRunner().invoke(benchmark, arguments).exit_code == 0
    output = tmp_path / "ensemble.specvae"
    command = ["ensemble", str(svae), str(feedforward), "-o", str(output), "--training-set", str(training_set)]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    stored = read_metadata(output).training["validation_metrics"]
    # the same number by hand: the mean of the two members' predictions, ranked among the validation structures
    inputs = prepare_training_inputs(training_set, TrainingOptions(min_bit_count=1, progress=False))
    mean = np.mean(
        [
            predict_fingerprint_probabilities(load_model(path)[0], inputs.validation_spectra)
            for path in (svae, feedforward)
        ],
        axis=0,
    )
    ranks = retrieval_ranks(mean, inputs.validation_true_rows, inputs.validation_candidate_bits)
    assert stored["retrieval_top1"] == pytest.approx(retrieval_summary(ranks)["retrieval_top1"])
    assert stored["retrieval_mean_rank"] == pytest.approx(retrieval_summary(ranks)["retrieval_mean_rank"], rel=1e-3)
    info = CliRunner().invoke(main, ["info", str(output)])
    assert info.exit_code == 0 and "ensemble of 2: svae" in info.output


def test_the_command_refuses_to_overwrite_a_member(tmp_path, members):
    result = CliRunner().invoke(main, ["ensemble", str(members[0]), str(members[1]), "-o", str(members[0])])
    assert result.exit_code == 2
    assert "MEMBERS" in result.output


def test_an_ensemble_given_as_a_member_adds_its_members(tmp_path, members):
    nested = tmp_path / "nested.specvae"
    build_ensemble(members[:2], nested)
    build_ensemble([nested, members[2]], tmp_path / "three.specvae")
    build_ensemble(members, tmp_path / "flat.specvae")
    three, three_metadata = load_model(tmp_path / "three.specvae")
    flat, flat_metadata = load_model(tmp_path / "flat.specvae")
    assert len(three.members) == 3 and three_metadata.architecture.members == flat_metadata.architecture.members
    assert [member["file"] for member in three_metadata.training["members"]] == [
        member["file"] for member in flat_metadata.training["members"]
    ]
    spectra = torch.rand(4, flat_metadata.architecture.n_bins, generator=torch.Generator().manual_seed(2)) > 0.97
    data = {SPECTRUM: spectra.float()}
    torch.testing.assert_close(
        three.cross_generate(data, [SPECTRUM], [FINGERPRINT])[FINGERPRINT],
        flat.cross_generate(data, [SPECTRUM], [FINGERPRINT])[FINGERPRINT],
    )


def test_the_benchmark_report_names_each_member_and_prints_no_missing_field(tmp_path, members):
    """An ensemble has no best epoch or training-set file of its own: the report names its members' instead."""
    from specvae.benchmark.models import load_benchmark_model
    from specvae.benchmark.report import _model_description

    output = tmp_path / "ensemble.specvae"
    build_ensemble(members, output, command="specvae ensemble ...")
    text = _model_description(load_benchmark_model(output).describe())
    assert "None" not in text
    assert "The mean prediction of 3 networks" in text
    for path in members:
        assert f"`{path.name}`" in text
    single = _model_description(load_benchmark_model(members[0]).describe())
    assert "None" not in single and "networks" not in single
