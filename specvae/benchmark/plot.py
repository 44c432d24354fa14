"""The top-k curve: share of challenges with the answer within the top k, against k on a log axis, per system.

One panel per ion mode and one for all challenges; the random ranking is drawn as its expected curve, and the
published contest results (all challenges only) as labelled points, marked as not run here. The reliability
diagram: share of rank 1 right against the confidence of rank 1.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from mmcore.atomic import atomic_output
from specvae.benchmark.metrics import AnswerRank, random_top_k_curve, top_k_curve
from specvae.benchmark.published import PublishedResult


def curve_ks(max_candidates: int, n_points: int = 60) -> np.ndarray:
    """Integer k values from 1 to ``max_candidates``, spaced evenly on a log scale."""
    top = max(int(max_candidates), 1)
    return np.unique(np.round(np.logspace(0, np.log10(top), n_points)).astype(int))


def plot_top_k_curves(
    path: str | os.PathLike[str],
    panels: Sequence[tuple[str, Mapping[str, Sequence[AnswerRank | None]], Sequence[tuple[int, int]]]],
    published: Sequence[PublishedResult] = (),
    title: str = "",
) -> None:
    """Write a PNG with one panel per ``(panel title, {system: ranks}, random lists)``.

    ``random lists`` are ``(n_candidates, n_answer_candidates)`` per challenge of the panel. Published points go on
    the panel titled "all".
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False, sharey=True)
    for axis, (panel_title, systems, random_lists) in zip(axes[0], panels, strict=True):
        max_candidates = max((n for n, _ in random_lists), default=1)
        ks = curve_ks(max_candidates)
        for label, ranks in systems.items():
            axis.step(ks, top_k_curve(ranks, ks), where="post", label=label, linewidth=1.8)
        axis.plot(ks, random_top_k_curve(random_lists, ks), color="grey", linestyle="--", label="random (expected)")
        if panel_title == "all":
            for result in published:
                points = result.top_k()
                axis.plot(
                    list(points),
                    [count / result.n_challenges for count in points.values()],
                    marker="o",
                    linestyle=":",
                    linewidth=0.8,
                    label=f"{result.method} (published, not run here)",
                )
        axis.set_xscale("log")
        axis.set_xlim(1, max(ks[-1], 2))
        axis.set_ylim(0, 1)
        axis.set_xlabel("k (rank of the answer)")
        axis.set_title(f"{panel_title} ({len(random_lists)} challenges)")
        axis.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("share of challenges with the answer within the top k")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)


def plot_reliability_diagram(
    path: str | os.PathLike[str],
    confidences: Sequence[float],
    rank_one_right: Sequence[float],
    n_bins: int = 10,
    label: str = "specvae",
    title: str = "",
) -> None:
    """Write a PNG of the share of rank 1 right against the mean confidence per bin (a calibrated confidence lies
    on the diagonal), with the number of annotations per bin as bars. ``rank_one_right``: 1, 0 or the right
    fraction of a tie per annotation (:func:`specvae.benchmark.report.reliability_bins`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from specvae.benchmark.report import reliability_bins  # report imports this module at its top

    bins = [row for row in reliability_bins(confidences, rank_one_right, n_bins) if row[2]]
    figure, axis = plt.subplots(figsize=(4.8, 4.4))
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", label="calibrated")
    axis.plot([row[3] for row in bins], [row[4] for row in bins], marker="o", label=label)
    counts = axis.twinx()
    counts.bar([(row[0] + row[1]) / 2 for row in bins], [row[2] for row in bins], width=1 / n_bins, alpha=0.2)
    counts.set_ylabel("annotations")
    counts.yaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_zorder(counts.get_zorder() + 1)  # the curve over the bars
    axis.patch.set_visible(False)
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("confidence")
    axis.set_ylabel("rank 1 right")
    axis.legend(loc="upper left")
    if title:
        axis.set_title(title, fontsize=10)
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
