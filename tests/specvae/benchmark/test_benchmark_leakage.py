"""The refusal of models whose training structures include an answer, and --force."""

from __future__ import annotations

import pytest
from shared_helpers import write_tiny_model

from specvae.benchmark.leakage import BenchmarkRefusedError, check_training_overlap
from specvae.benchmark.models import build_systems
from specvae.model_file import ModelMetadata, read_metadata, save_model
from specvae.model_file import load_model as load_fusion_model

TRAINED_ON = "KWILGNNWGSNMPA"  # the tiny test model's only training structure


@pytest.fixture
def tiny_positive(tmp_path):
    return write_tiny_model(tmp_path / "positive.specvae", "positive")


def test_a_model_trained_on_an_answer_is_refused_naming_the_structure(tiny_positive) -> None:
    systems = build_systems([tiny_positive], [], ("positive",))
    answers = {"positive": {TRAINED_ON, "BSYNRYMUTXBXSQ"}}
    with pytest.raises(BenchmarkRefusedError, match=f"1 answer structure.*{TRAINED_ON}.*--force"):
        check_training_overlap(systems, answers)
    forced = check_training_overlap(systems, answers, force=True)
    assert [check.overlap for check in forced] == [(TRAINED_ON,)]
    assert not forced[0].clean and "was trained on 1 answer" in forced[0].describe()


def test_answers_of_another_ion_mode_do_not_count(tiny_positive) -> None:
    systems = build_systems([tiny_positive], [], ("positive", "negative"))
    checks = check_training_overlap(systems, {"positive": {"BSYNRYMUTXBXSQ"}, "negative": {TRAINED_ON}})
    assert len(checks) == 1 and checks[0].clean and checks[0].n_answers_checked == 1


def test_a_model_without_a_training_structure_list_cannot_give_the_guarantee(tmp_path, tiny_positive) -> None:
    model, metadata = load_fusion_model(tiny_positive)
    bare = tmp_path / "bare.specvae"
    save_model(bare, model, ModelMetadata(metadata.architecture, metadata.binning, metadata.fingerprint, "positive"))
    assert "structures_inchikey14" not in read_metadata(bare).training
    systems = build_systems([bare], [], ("positive",))
    with pytest.raises(BenchmarkRefusedError, match="stores no training-structure list"):
        check_training_overlap(systems, {"positive": {"BSYNRYMUTXBXSQ"}})
    assert check_training_overlap(systems, {"positive": set()}, force=True)[0].overlap is None
