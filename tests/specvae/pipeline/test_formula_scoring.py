"""Formula conditioning in the annotation pipeline (specvae/pipeline/formula_scoring.py): a model whose network
reads formulas and that carries a conditioning weight ranks each formula's candidates under that formula's
prediction, through Annotator.annotate like any other term."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from shared_helpers import write_tiny_model

from specvae.annotator import Annotator
from specvae.ensemble import build_ensemble
from specvae.errors import SpecvaeError
from specvae.fingerprints import compute_fingerprints
from specvae.formula_conditioning import METADATA_KEY, formula_conditioned_scores
from specvae.formula_features import formula_feature_matrix
from specvae.model_file import load_model, save_model, with_training_entry
from specvae.pipeline.models import LoadedModel
from specvae.ranking import score_candidates
from specvae.spectra.filters import clean_spectrum
from specvae.spectra.reading import iter_spectrum_records

SPECTRUM = """BEGIN IONS
TITLE=pos-1
PEPMASS=181.0859
CHARGE=1+
IONMODE=positive
77.039 20
105.033 100
163.075 45
END IONS
"""
# two formulas, two and three candidates
LIST = """spectrum_id,Identifier,SMILES
pos-1,a,COC(=O)CCc1ccc(O)cc1
pos-1,b,CCOC(=O)c1ccc(O)cc1C
pos-1,c,COc1ccc(CC(C)=O)cc1O
pos-1,n,CCN(CC)c1ccc(C#N)cc1
pos-1,m,CCN(C)c1ccc(CC#N)cc1
"""
FORMULAS = {"a": "C10H12O3", "b": "C10H12O3", "c": "C10H12O3", "n": "C11H14N2", "m": "C11H14N2"}


@pytest.fixture
def files(tmp_path):
    spectra, candidates = tmp_path / "s.mgf", tmp_path / "c.csv"
    spectra.write_text(SPECTRUM)
    candidates.write_text(LIST)
    # MACCS keys 100-163 (most of them differ between these candidates), formula weights made strong
    reader = write_tiny_model(
        tmp_path / "reader.specvae", "positive", fusion="feedforward", formula_features=29, first_kept_bit=100
    )
    network, metadata = load_model(reader)
    with torch.no_grad():
        network.encoder[0].weight[metadata.architecture.n_bins :] *= 30
    save_model(reader, network, metadata)
    svae = write_tiny_model(tmp_path / "svae.specvae", "positive", seed=3, first_kept_bit=100)
    pair = tmp_path / "pair.specvae"
    build_ensemble([reader, svae], pair)
    return spectra, candidates, pair


def conditioned_model(pair, tmp_path, weight: float):
    path = tmp_path / f"conditioned_{weight}.specvae"
    with_training_entry(pair, path, METADATA_KEY, {"weight": weight, "chosen_on": "test"})
    return path


def ranked(path, spectra, candidates):
    results = Annotator.load(path).annotate(spectra, candidates, explain=True)
    return {row.identifier: row for annotation in results for row in annotation.ranked}


def test_weight_zero_changes_nothing_and_full_weight_follows_the_formula_predictions(files, tmp_path):
    spectra, candidates, pair = files
    plain = ranked(pair, spectra, candidates)
    assert {row.score for row in ranked(conditioned_model(pair, tmp_path, 0.0), spectra, candidates).values()} == {
        row.score for row in plain.values()
    }
    conditioned = ranked(conditioned_model(pair, tmp_path, 1.0), spectra, candidates)
    # by hand: each candidate scored under the prediction for its own formula
    loaded = LoadedModel.load(pair)
    identifiers = list(FORMULAS)
    smiles = [line.split(",")[2] for line in LIST.strip().splitlines()[1:]]
    bits = loaded.fingerprint.select_kept(compute_fingerprints(smiles, loaded.fingerprint).fingerprints)
    binned = torch.from_numpy(loaded.binner.bin([_spectrum(spectra)]).toarray().astype(np.float32))
    formulas = [FORMULAS[identifier] for identifier in identifiers]
    under = loaded.model.probabilities_under_formulas(binned, torch.from_numpy(formula_feature_matrix(formulas)))
    own = np.array([score_candidates(under[i].numpy(), bits[i : i + 1])[0] for i in range(len(identifiers))])
    ordinary = np.array([plain[identifier].score for identifier in identifiers])
    expected = formula_conditioned_scores(ordinary, own, formulas, 1.0)
    assert not np.allclose(expected, ordinary)  # conditioning changes the scores of this list
    for identifier, score in zip(identifiers, expected, strict=True):
        assert conditioned[identifier].score == pytest.approx(score, abs=1e-6)
        explanation = conditioned[identifier].explanation
        assert explanation.formula_conditioning_score == pytest.approx(score - plain[identifier].score, abs=1e-6)
        summary = explanation.summary()
        listed = sum(bit.contribution for bit in explanation.supporting[:5]) + sum(
            bit.contribution for bit in explanation.opposing[:5]
        )
        parts = listed + summary["baseline_score"] + summary["other_bits_score"] + summary["fragment_formula_score"]
        assert parts + summary["formula_conditioning_score"] == pytest.approx(score, abs=1e-6)


def _spectrum(path):
    return clean_spectrum(next(iter(iter_spectrum_records(path))).spectrum)


def test_a_weight_on_a_model_that_reads_no_formula_is_refused(tmp_path):
    plain = write_tiny_model(tmp_path / "plain.specvae", "positive")
    path = tmp_path / "weighted.specvae"
    with_training_entry(plain, path, METADATA_KEY, {"weight": 0.5})
    with pytest.raises(SpecvaeError, match="no network that reads formulas"):
        _ = LoadedModel.load(path).formula_conditioning
