"""The guarantee that no answer structure was in a model's training data, or a clear refusal.

Every specvae model file stores the InChIKey first blocks of every structure in its training-set file (all splits,
see ``specvae.training``). A benchmark answer whose first block is in that list may have been learnt, so a model
whose list intersects the answers of the challenges it would rank is refused, naming the overlapping blocks; a
model without a list cannot give the guarantee and is refused too. ``force`` runs anyway, and the report then
states the overlap prominently.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from specvae.benchmark.models import System
from specvae.errors import SpecvaeError


class BenchmarkRefusedError(SpecvaeError):
    """A model may have seen benchmark answers in training; the message names the model and the structures."""


@dataclass(frozen=True)
class LeakageCheck:
    """The result for one model: the answers (first blocks) also in its training list, or ``None`` if it has none."""

    system: str
    ion_mode: str
    model_path: str
    overlap: tuple[str, ...] | None
    n_answers_checked: int

    @property
    def clean(self) -> bool:
        return self.overlap is not None and not self.overlap

    def describe(self) -> str:
        if self.overlap is None:
            return (
                f"{self.system} ({self.ion_mode}, {self.model_path}) stores no training-structure list: "
                "it cannot be shown that no answer was in its training data"
            )
        if not self.overlap:
            return (
                f"{self.system} ({self.ion_mode}): none of the {self.n_answers_checked} answer first blocks is among "
                "its training structures"
            )
        shown = ", ".join(self.overlap[:20]) + (f" and {len(self.overlap) - 20} more" if len(self.overlap) > 20 else "")
        return (
            f"{self.system} ({self.ion_mode}, {self.model_path}) was trained on {len(self.overlap)} answer "
            f"structure(s) (InChIKey first blocks): {shown}"
        )


def check_training_overlap(
    systems: Sequence[System], answers_by_mode: dict[str, Collection[str]], force: bool = False
) -> list[LeakageCheck]:
    """Check every model against the answers of the challenges of its ion mode.

    Raises :class:`BenchmarkRefusedError` listing every offending model unless ``force``.
    """
    checks = []
    for system in systems:
        for mode, model in system.models.items():
            answers = set(answers_by_mode.get(mode, ()))
            trained = model.training_structures
            overlap = None if trained is None else tuple(sorted(answers & trained))
            checks.append(LeakageCheck(system.label, mode, str(model.path), overlap, len(answers)))
    offending = [check for check in checks if not check.clean]
    if offending and not force:
        reasons = "; ".join(check.describe() for check in offending)
        raise BenchmarkRefusedError(f"{reasons}. Use a model trained without them, or --force to run anyway.")
    return checks
