"""The contest submission files: non-negative scores, best first, ties kept exactly."""

from __future__ import annotations

import numpy as np

from specvae.benchmark.challenges import CandidateList, Challenge
from specvae.benchmark.submission import submission_scores, submission_text


def test_scores_are_shifted_to_at_least_one_and_unscored_candidates_get_zero() -> None:
    shifted = submission_scores(np.array([-5.0, -3.0, np.nan, -3.0, -1e-3]))
    np.testing.assert_allclose(shifted, [1.0, 3.0, 0.0, 3.0, 5.999])
    assert shifted[1] == shifted[3]  # a tie stays a tie
    assert submission_scores(np.array([np.nan, np.nan])).tolist() == [0.0, 0.0]


def test_file_lists_candidates_best_first_with_ties_in_list_order() -> None:
    candidates = CandidateList(
        ("a", "b", "c", "d"),
        (
            "AAAAAAAAAAAAAA-UHFFFAOYSA-N",
            "BBBBBBBBBBBBBB-UHFFFAOYSA-N",
            "CCCCCCCCCCCCCC-UHFFFAOYSA-N",
            "DDDDDDDDDDDDDD-UHFFFAOYSA-N",
        ),
        ("C", "", "CO", "CCO"),
        ("", "InChI=1S/CH4/h1H4", "", ""),
    )
    challenge = Challenge("Challenge-001", "positive", None, candidates, "CCCCCCCCCCCCCC-UHFFFAOYSA-N")
    lines = submission_text(challenge, np.array([-2.0, np.nan, -1.0, -2.0])).splitlines()
    assert [line.split("\t") for line in lines] == [
        ["CO", "2.0", "CCCCCCCCCCCCCC-UHFFFAOYSA-N"],
        ["C", "1.0", "AAAAAAAAAAAAAA-UHFFFAOYSA-N"],
        ["CCO", "1.0", "DDDDDDDDDDDDDD-UHFFFAOYSA-N"],
        ["InChI=1S/CH4/h1H4", "0.0", "BBBBBBBBBBBBBB-UHFFFAOYSA-N"],  # no SMILES: the InChI stands for it
    ]
