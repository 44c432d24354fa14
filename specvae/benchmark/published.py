"""Published CASMI results, shown beside ours for reference. None of them is run here.

CASMI 2016 Category 2 ("in silico fragmentation only", the category whose rules our method follows: spectra and
candidate lists, no retention time or metadata), summary statistics per participant from the contest's results
page, http://casmi-contest.org/2016/results-cat2.shtml, described in Schymanski et al., J. Cheminform. 9:22
(2017). Counts are out of all 208 challenges; ranks of tied candidates were averaged by the organisers, as our
expected rank does. Team Dührkop (CSI:FingerID) submitted positive-mode challenges only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedResult:
    """One participant's published summary: challenges with the answer at rank 1, within 3, within 10."""

    method: str
    team: str
    top_1: int
    top_3: int
    top_10: int
    n_challenges: int
    mean_rank: float | None
    median_rank: float | None
    note: str
    source: str

    def top_k(self) -> dict[int, int]:
        return {1: self.top_1, 3: self.top_3, 10: self.top_10}


_CASMI2016_SOURCE = "http://casmi-contest.org/2016/results-cat2.shtml; Schymanski et al. 2017, J. Cheminform. 9:22"

CASMI2016_CATEGORY2: tuple[PublishedResult, ...] = (
    PublishedResult(
        "CSI:FingerID",
        "Dührkop",
        70,
        90,
        100,
        208,
        25.17,
        1.0,
        "positive mode only (127 challenges)",
        _CASMI2016_SOURCE,
    ),
    PublishedResult("CSI:IOKR", "Brouard", 62, 93, 118, 208, 127.34, 5.2, "both modes", _CASMI2016_SOURCE),
    PublishedResult("CFM-ID", "Allen", 39, 77, 123, 208, 47.98, 6.0, "both modes", _CASMI2016_SOURCE),
)

PUBLISHED = {"casmi2016": CASMI2016_CATEGORY2}
"""Published reference rows by benchmark name (none recorded for CASMI 2017)."""
