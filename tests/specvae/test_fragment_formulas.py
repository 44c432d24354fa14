"""The fragment-formula score: which peaks a candidate's formula explains, how it enters the ranking score and its
explanation, and how its weight is chosen."""

from __future__ import annotations

import numpy as np
import pytest
from matchms import Spectrum
from rdkit import Chem
from shared_helpers import write_tiny_model
from tests_specvae_inputs import MGF

from specvae.adducts import parse_adduct
from specvae.annotator import Annotator
from specvae.candidates import Candidate, CandidateMatch
from specvae.confidence import ConfidenceError, fit_confidence_on_training_set
from specvae.fragment_formulas import (
    METADATA_KEY,
    FragmentFormulaScoring,
    element_counts,
    explained_peaks,
    inchi_formula,
    ion_counts,
    model_fragment_scoring,
    unexplained_share,
)
from specvae.fragment_weight_fit import best_weight, weight_table
from specvae.model_file import load_model, read_metadata, with_training_entry
from specvae.pipeline.fragment_scoring import add_fragment_formula_scores
from specvae.pipeline.models import LoadedModel
from specvae.pipeline.query import SpectrumQuery
from specvae.validation_lists import ValidationList, ValidationLists

H, C, N, OX, E = 1.00782503207, 12.0, 14.0030740048, 15.99491461956, 0.00054857990946  # OX: oxygen
PROTONATED = parse_adduct("[M+H]+")
DEPROTONATED = parse_adduct("[M-H]-")
C2H5_ION = 2 * C + 5 * H - E  # a fragment of protonated ethanol (C2H7O+)
CH2N_ION = C + 2 * H + N - E  # holds a nitrogen: no fragment of ethanol


def test_formulas_of_salts_hydrates_and_ions_are_added_up():
    assert element_counts("C9H7NO3.H2O") == {"C": 9, "H": 9, "N": 1, "O": 4}
    assert element_counts("2C2H3O2.Ca") == {"C": 4, "H": 6, "O": 4, "Ca": 1}
    assert element_counts("C5H12N+") == {"C": 5, "H": 12, "N": 1}
    with pytest.raises(ValueError, match="not a molecular formula"):
        element_counts("ethanol")
    assert inchi_formula("InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3") == "C2H6O"
    assert inchi_formula("InChI=1S/H2O/h1H2") == "H2O"
    assert inchi_formula("CCO") is None and inchi_formula(None) is None


def test_a_peak_is_explained_by_a_sub_formula_of_the_ion_only():
    ion = ion_counts(element_counts("C2H6O"), PROTONATED)
    assert ion == {"C": 2, "H": 7, "O": 1}
    explained = explained_peaks(ion, np.array([C2H5_ION, CH2N_ION, C + OX - E]), PROTONATED, 10.0, 0.002)
    assert explained.tolist() == [True, False, True]
    # the electron: a cation weighs one electron less than its atoms, an anion one more
    anion = 2 * C + 3 * H + OX + E  # C2H3O- from deprotonated ethanol
    tight = (1.0, 1e-4)
    assert explained_peaks(ion_counts(element_counts("C2H6O"), DEPROTONATED), np.array([anion]), DEPROTONATED, *tight)
    assert not explained_peaks(ion, np.array([anion]), PROTONATED, *tight)[0]
    assert explained_peaks({"C": 1, "Xx": 1}, np.array([12.0]), PROTONATED, 10.0, 0.002) is None


def test_a_sub_formula_with_more_hydrogens_than_its_skeleton_holds_explains_nothing_under_the_ion_rule():
    ion = ion_counts(element_counts("C2H6O"), PROTONATED)  # C2H7O+
    impossible = C + 7 * H - E  # CH7+: a sub-formula by arithmetic (RDBE -1.5), no ion; no other sub-formula is near
    possible = C + 3 * H - E  # CH3+ (RDBE 0.5)
    mzs = np.array([impossible, possible, C2H5_ION])
    assert explained_peaks(ion, mzs, PROTONATED, 10.0, 0.002).tolist() == [True, True, True]
    assert explained_peaks(ion, mzs, PROTONATED, 10.0, 0.002, possible_ions_only=True).tolist() == [False, True, True]
    precursor = 2 * C + 7 * H + OX - E
    intensities = np.array([9.0, 1.0, 1.0])
    assert unexplained_share("C2H6O", mzs, intensities, precursor, PROTONATED) == 0.0
    ruled = unexplained_share("C2H6O", mzs, intensities, precursor, PROTONATED, possible_ions_only=True)
    assert ruled == pytest.approx(3 / 5)


def test_the_unexplained_share_weighs_square_root_intensities_below_the_precursor_region():
    precursor = 2 * C + 7 * H + OX - E  # 47.049
    mzs = np.array([CH2N_ION, C2H5_ION, precursor])  # the precursor peak is not scored
    share = unexplained_share("C2H6O", mzs, np.array([16.0, 4.0, 1000.0]), precursor, PROTONATED)
    assert share == pytest.approx(4 / (4 + 2))
    assert unexplained_share(None, mzs, np.ones(3), precursor, PROTONATED) == 1.0
    assert unexplained_share("not a formula", mzs, np.ones(3), precursor, PROTONATED) == 1.0
    assert unexplained_share("C2H6O", np.array([precursor]), np.ones(1), precursor, PROTONATED) == 0.0


def test_scoring_settings_refuse_bad_values_and_a_zero_weight_means_none():
    with pytest.raises(ValueError, match="weight"):
        FragmentFormulaScoring(weight=-1.0)
    assert model_fragment_scoring({METADATA_KEY: {"weight": 0.0}}) is None
    # a file fitted before the ion rule states none and keeps counting every sub-formula
    old_file = model_fragment_scoring({METADATA_KEY: {"weight": 30.0, "ppm": 5.0}})
    assert old_file == FragmentFormulaScoring(30.0, 5.0, possible_ions_only=False)
    stated = FragmentFormulaScoring(30.0, 5.0).to_dict()
    assert stated["possible_ions_only"] is True
    assert model_fragment_scoring({METADATA_KEY: stated}) == FragmentFormulaScoring(30.0, 5.0)
    assert model_fragment_scoring({}) is None


def _key(smiles: str) -> str:
    return Chem.MolToInchiKey(Chem.MolFromSmiles(smiles))


def _query() -> SpectrumQuery:
    precursor = 2 * C + 7 * H + OX - E
    spectrum = Spectrum(
        mz=np.array([CH2N_ION, C2H5_ION]),
        intensities=np.array([1.0, 1.0]),
        metadata={"precursor_mz": precursor, "ionmode": "positive"},
    )
    ethanol_inchi = "InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3"
    matches = [
        CandidateMatch(Candidate("ethanol", None, "CCO", _key("CCO"), inchi=ethanol_inchi), 46.04),
        CandidateMatch(Candidate("aminated", None, "NCC", _key("NCC"), molecular_formula="C2H7N"), 46.04),
        CandidateMatch(Candidate("unscored", None, "OCO", _key("OCO")), 46.04),
    ]
    query = SpectrumQuery("s1", 1, spectrum, ion_mode="positive", matches=matches)
    query.scores = np.array([-10.0, -9.0, np.nan])
    return query


def test_the_stage_lowers_each_score_by_the_weighted_share_and_keeps_its_part(tmp_path):
    path = write_tiny_model(tmp_path / "model.specvae", "positive")
    model, metadata = load_model(path)
    plain = LoadedModel(model, metadata, str(path))
    query = _query()
    add_fragment_formula_scores([query], {"positive": plain})
    assert query.scores.tolist()[:2] == [-10.0, -9.0] and query.fragment_scores is None  # no weight, no change
    with_training_entry(path, tmp_path / "weighted.specvae", METADATA_KEY, {"weight": 10.0})
    weighted = LoadedModel(*load_model(tmp_path / "weighted.specvae"), str(tmp_path / "weighted.specvae"))
    query = _query()
    add_fragment_formula_scores([query], {"positive": weighted})
    # ethanol explains C2H5+ but not CH2N+ (share 0.5); C2H7N explains CH2N+ (and C2H5+): share 0
    np.testing.assert_allclose(query.scores[:2], [-10.0 - 5.0, -9.0])
    assert np.isnan(query.scores[2]) and query.fragment_scores.tolist() == [-5.0, 0.0, 0.0]


SPECTRUM = MGF.split("\n\n")[0] + "\n"  # pos-1: peaks 77.039, 105.033 and 163.075 of [M+H]+ 181.0859
# C10H12O3 isomers explain every fragment; C11H16N2 (no oxygen) cannot explain C7H5O+ at 105.033.
LIST = """spectrum_id,Identifier,SMILES
pos-1,a,COC(=O)CCc1ccc(O)cc1
pos-1,b,CCOC(=O)c1ccc(O)cc1C
pos-1,n,CCN(CC)c1ccc(C#N)cc1
"""


def test_the_explanation_shows_the_term_and_its_parts_still_add_up_to_the_score(tmp_path):
    spectra, candidates = tmp_path / "s.mgf", tmp_path / "c.csv"
    spectra.write_text(SPECTRUM)
    candidates.write_text(LIST)
    path = write_tiny_model(tmp_path / "model.specvae", "positive")
    with_training_entry(path, tmp_path / "weighted.specvae", METADATA_KEY, {"weight": 50.0})
    results = Annotator.load(tmp_path / "weighted.specvae").annotate(spectra, candidates, explain=True)
    rows = {row.identifier: row for annotation in results for row in annotation.ranked}
    assert rows["a"].explanation.fragment_formula_score == 0.0
    assert rows["n"].explanation.fragment_formula_score == pytest.approx(
        -50.0 * (10 + np.sqrt(45)) / (np.sqrt(20) + 10 + np.sqrt(45))  # 105.033 and 163.075 unexplained
    )
    for row in rows.values():
        summary = row.explanation.summary()
        listed = sum(bit.contribution for bit in row.explanation.supporting[:5]) + sum(
            bit.contribution for bit in row.explanation.opposing[:5]
        )
        total = summary["baseline_score"] + listed + summary["other_bits_score"] + summary["fragment_formula_score"]
        assert total == pytest.approx(row.score, abs=1e-6)
    plain = Annotator.load(path).annotate(spectra, candidates, explain=True)
    for row in (row for annotation in plain for row in annotation.ranked):  # the term is the only difference
        weighted = rows[row.identifier]
        assert weighted.score == pytest.approx(row.score + weighted.explanation.fragment_formula_score, abs=1e-6)


def test_adding_a_weight_drops_a_stale_confidence_and_fitting_the_confidence_asks_for_the_peaks(tmp_path):
    path = write_tiny_model(tmp_path / "model.specvae", "positive")
    with_training_entry(path, tmp_path / "confident.specvae", "confidence", {"intercept": 0.0})
    with_training_entry(
        tmp_path / "confident.specvae",
        tmp_path / "weighted.specvae",
        METADATA_KEY,
        {"weight": 5.0},
        drop=("confidence",),
    )
    training = read_metadata(tmp_path / "weighted.specvae").training
    assert "confidence" not in training and training[METADATA_KEY] == {"weight": 5.0}
    with pytest.raises(ConfidenceError, match="--spectra"):
        fit_confidence_on_training_set(tmp_path / "weighted.specvae", tmp_path / "unused.h5")


def _list(scores, skeletons, answer):
    return ValidationList(0, "s", "[M+H]+", np.arange(len(scores)), np.array(scores), skeletons, answer)


def test_the_weight_is_the_smallest_that_puts_the_most_answers_first():
    # list 1: the answer A trails the decoy B by 2 nats but explains the spectrum (share 0 vs 0.5);
    # list 2: the answer leads by 1 and both explain it equally
    lists = ValidationLists([_list([-12.0, -10.0], ["A", "B"], "A"), _list([-5.0, -6.0], ["A", "B"], "A")], [])
    shares = [np.array([0.0, 0.5]), np.array([0.1, 0.1])]
    table = weight_table(lists, shares, grid=(0.0, 1.0, 10.0, 100.0))
    assert [row["top1"] for row in table] == [0.5, 0.5, 1.0, 1.0]
    assert best_weight(table) == 10.0
    ties = weight_table(lists, [np.array([0.0, 0.4]), np.array([0.1, 0.1])], grid=(5.0,))
    assert ties[0]["top1"] == pytest.approx(0.75)  # list 1 ties A and B at -12: half right
