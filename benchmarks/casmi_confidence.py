"""How far the annotation confidence can be trusted on CASMI 2016: precision at confidence >= t.

Reads the output of ``specvae annotate`` on the CASMI 2016 lists (as ``benchmarks/casmi_through_annotate.py`` writes
it in its work folder) and the official answers, and prints, per threshold, how many challenges have a rank-1
confidence at least that high and what share of them has the answer at rank 1 (tied rank-1 rows share the credit).
The confidence was fitted on validation spectra, never on CASMI: this is a test of it.

    python benchmarks/casmi_confidence.py WORK_DIR/annotations.tsv $SPECVAE_DATA_DIR/casmi2016/solutions.csv
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict

THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7)


def main(annotations_path: str, solutions_path: str) -> None:
    with open(solutions_path, newline="", encoding="utf-8") as stream:
        answers = {row["ChallengeName"]: row["INCHIKEY"].strip().split("-")[0] for row in csv.DictReader(stream)}
    rank_one: dict[str, list[dict[str, str]]] = defaultdict(list)
    with open(annotations_path, newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream, delimiter="\t"):
            if row.get("rank") == "1":
                rank_one[row["spectrum_id"]].append(row)
    scored = []
    for spectrum_id, rows in rank_one.items():
        confidence = next((float(row["confidence"]) for row in rows if row.get("confidence")), None)
        right = sum(row["inchikey14"] == answers[spectrum_id] for row in rows) / len(rows)
        scored.append((confidence, right))
    with_confidence = [(c, r) for c, r in scored if c is not None]
    print(f"{len(scored)} challenges, {len(with_confidence)} with a confidence; "
          f"mean confidence {sum(c for c, _ in with_confidence) / len(with_confidence):.3f}, "
          f"share right at rank 1 {sum(r for _, r in scored) / len(scored):.3f}")
    print("| confidence ≥ | challenges | share right |")
    print("|---|---|---|")
    for threshold in THRESHOLDS:
        kept = [right for confidence, right in with_confidence if confidence >= threshold]
        share = f"{sum(kept) / len(kept):.3f}" if kept else "–"
        print(f"| {threshold} | {len(kept)} | {share} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
