"""How much of a spectrum a candidate's molecular formula can explain: the fragment-formula score.

Why: a candidate list taken from a mass window holds many formulas (a CASMI 2016 list: 18 in the median, and only
43 % of its candidates share the answer's), and the fingerprint predicted from the spectrum cannot tell them apart
well. The fragments can: every fragment ion is made of atoms of the precursor ion, so a fragment whose m/z no
sub-formula of a candidate's ion matches is evidence against that candidate's formula. The score is the share of
the spectrum's fragment intensity (square roots, so that a few strong peaks do not decide alone) that no
sub-formula of the candidate's ion explains within the mass tolerance. Answers leave 1.3 % unexplained on CASMI
2016 (73 % of them nothing), candidates of other formulas 24 %.

The ranking score is the fingerprint score minus ``weight`` times this share; ``weight`` is chosen on validation
retrieval (``specvae fit-fragment-weight``) and stored in the model file. The precursor region (m/z above
``precursor - 1.5``) is left out: there the candidate's mass alone, not its formula, would decide.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from specvae.adducts import ELECTRON_MASS_DA, Adduct, element_masses
from specvae.candidates.formula import formula_counts

DEFAULT_PPM = 10.0


def tolerance_floor_da(ppm: float) -> float:
    """The least m/z tolerance that goes with ``ppm``: what ``ppm`` gives at m/z 200, so that small fragments, whose
    m/z errors do not shrink with their mass, are not held to a few tenths of a millidalton."""
    return ppm * 1e-6 * 200.0


DEFAULT_MIN_TOLERANCE_DA = tolerance_floor_da(DEFAULT_PPM)
PRECURSOR_REGION_DA = 1.5
"""Peaks above ``precursor m/z - PRECURSOR_REGION_DA`` (the precursor and its isotopes) are not scored."""
METADATA_KEY = "fragment_formulas"
"""Where a model file's training record keeps its :class:`FragmentFormulaScoring`."""

_MULTIPLIER = re.compile(r"^(\d*)(.*)$")


@dataclass(frozen=True)
class FragmentFormulaScoring:
    """How a model's ranking uses the fragment-formula score: ``weight`` times the unexplained share is taken off
    each candidate's score; a peak is explained within ``ppm`` of its m/z (``min_tolerance_da`` at least)."""

    weight: float
    ppm: float = DEFAULT_PPM
    min_tolerance_da: float = DEFAULT_MIN_TOLERANCE_DA
    possible_ions_only: bool = True
    """Count only sub-formulas that can be an ion (ring-plus-double-bond equivalent ≥ -0.5): a formula that needs
    more hydrogens than its skeleton can hold explains a peak by arithmetic, not chemistry. Files fitted before this
    rule existed state nothing and keep the arithmetic rule (:meth:`from_dict`)."""

    def __post_init__(self) -> None:
        for name in ("weight", "ppm", "min_tolerance_da"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise ValueError(f"fragment-formula {name} must be a finite number >= 0, got {value!r}")

    def to_dict(self) -> dict[str, float | bool]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FragmentFormulaScoring:
        stated = {key: values[key] for key in ("weight", "ppm", "min_tolerance_da") if key in values}
        return cls(**stated, possible_ions_only=bool(values.get("possible_ions_only", False)))


def model_fragment_scoring(training: Mapping[str, Any]) -> FragmentFormulaScoring | None:
    """The fragment-formula scoring stored in a model's training record, or None (fingerprint score alone)."""
    values = training.get(METADATA_KEY)
    if not values:
        return None
    scoring = FragmentFormulaScoring.from_dict(values)
    return scoring if scoring.weight > 0 else None


def element_counts(formula: str) -> Counter[str]:
    """Element counts of a molecular formula, the components of a salt or hydrate added up (``C9H7NO3.H2O``,
    ``C2H3O2.Na``, ``2C2H4O2.Ca``); a trailing charge is ignored. Raises ``ValueError`` for other text."""
    counts: Counter[str] = Counter()
    for part in formula.strip().split("."):
        multiplier, rest = _MULTIPLIER.match(part).groups()
        for element, count in formula_counts(rest).items():
            counts[element] += int(multiplier or 1) * count
    return counts


def inchi_formula(inchi: str | None) -> str | None:
    """The formula layer of a standard InChI (text, no RDKit parse), or None."""
    if not inchi or not inchi.startswith("InChI="):
        return None
    layers = inchi.split("/")
    return layers[1] if len(layers) > 1 and layers[1] and layers[1][0].isupper() else None


def ion_counts(formula: Counter[str], adduct: Adduct) -> Counter[str] | None:
    """Atoms of the precursor ion: ``multiplicity`` molecules and the adduct's atoms; None when the adduct would
    remove atoms the molecule does not have."""
    ion = Counter({element: count * adduct.multiplicity for element, count in formula.items()})
    for element, count in adduct.composition:
        ion[element] += count
    if any(count < 0 for count in ion.values()):
        return None
    return +ion


_VALENCES = {"C": 4, "Si": 4, "N": 3, "P": 3, "B": 3, "F": 1, "Cl": 1, "Br": 1, "I": 1, "Na": 1, "K": 1, "Li": 1}
"""Valences of the ring-plus-double-bond rule; any other element counts as divalent (O, S, Se: no change)."""


def explained_peaks(
    ion: Counter[str],
    mzs: np.ndarray,
    adduct: Adduct,
    ppm: float,
    min_tolerance_da: float,
    possible_ions_only: bool = False,
) -> np.ndarray | None:
    """For each singly charged fragment m/z, whether some sub-formula of ``ion`` has that mass within tolerance;
    None when the ion holds an element without a known mass. With ``possible_ions_only`` a sub-formula counts only
    if its ring-plus-double-bond equivalent is at least -0.5, i.e. it has at most ``Σ n·(valence - 2) + 3``
    hydrogens: CH7+ weighs something, but no ion is made of it.

    The heavy-atom combinations (every element but hydrogen) are enumerated once and sorted; each hydrogen count
    then costs a binary search per peak for the combinations within tolerance (:class:`FragmentPeaks`).
    """
    return FragmentPeaks(np.asarray(mzs, dtype=np.float64), ppm, min_tolerance_da).explained(
        ion, adduct, possible_ions_only
    )


class FragmentPeaks:
    """The fragment m/z of one spectrum, with what every candidate ion's test of them shares: each peak's tolerance
    and, per electron mass and hydrogen count, the window of heavy-atom masses that explains it.

    Why a class: a spectrum is tested against every distinct formula of its list (CASMI 2016: 4,582 formulas over
    208 spectra), and these windows depend on the spectrum, not on the formula. They are worked out once a spectrum,
    for as many hydrogens as the largest ion asks for; a smaller ion reads its first columns, the same numbers.
    """

    def __init__(self, mzs: np.ndarray, ppm: float, min_tolerance_da: float) -> None:
        self.mzs = mzs
        self._tolerance = np.maximum(ppm * 1e-6 * mzs, min_tolerance_da)[:, None]
        self._windows: dict[float, tuple[np.ndarray, np.ndarray]] = {}  # by electron mass: (lower, upper)

    def _window(self, electrons: float, hydrogens: int) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` ``(peaks, hydrogens + 1)``: for ``h`` hydrogens, the heavy-atom masses that explain
        each peak lie within ``[lower[:, h], upper[:, h]]``."""
        window = self._windows.get(electrons)
        if window is None or window[0].shape[1] <= hydrogens:
            hydrogen_counts = np.arange(max(hydrogens + 1, 2 * (0 if window is None else window[0].shape[1])))
            targets = (self.mzs + electrons)[:, None] - hydrogen_counts[None, :] * element_masses()["H"]
            window = self._windows[electrons] = (targets - self._tolerance, targets + self._tolerance)
        return window[0][:, : hydrogens + 1], window[1][:, : hydrogens + 1]

    def explained(self, ion: Counter[str], adduct: Adduct, possible_ions_only: bool = False) -> np.ndarray | None:
        """:func:`explained_peaks` of these peaks."""
        masses = element_masses()
        if any(element not in masses for element in ion):
            return None
        heavy = [element for element in sorted(ion) if element != "H"]
        combination_mass, hydrogen_room = np.zeros(1), np.zeros(1)
        for element in heavy:
            element_mass, element_room = _element_steps(element, ion[element])
            combination_mass = (combination_mass[:, None] + element_mass).ravel()
            hydrogen_room = (hydrogen_room[:, None] + element_room).ravel()
        order = np.argsort(combination_mass)
        heavy_masses = combination_mass[order]
        hydrogens = ion.get("H", 0)
        charge_sign = 1 if adduct.charge > 0 else -1
        electrons = 0.0 if adduct.intrinsic_charge else charge_sign * ELECTRON_MASS_DA
        # For every hydrogen count h, a peak is explained when a heavy-atom combination that has room for h
        # hydrogens weighs its neutral mass minus h hydrogens: the combinations within tolerance of each (peak, h)
        # target are a contiguous stretch of the sorted masses.
        lower, upper = self._window(electrons, hydrogens)
        first = np.searchsorted(heavy_masses, lower, side="left")
        stop = np.searchsorted(heavy_masses, upper, side="right")
        if not possible_ions_only:
            return (stop > first).any(axis=1)
        # Only the (peak, h) pairs with a non-empty stretch are walked, one offset at a time (a few entries at most).
        peak, hydrogen = np.nonzero(stop > first)
        first, stop = first[peak, hydrogen], stop[peak, hydrogen]
        max_hydrogens = hydrogen_room[order] + 3
        has_room = np.zeros(peak.size, dtype=bool)
        for offset in range(int((stop - first).max(initial=0))):
            index = first + offset
            has_room |= (index < stop) & (max_hydrogens.take(index, mode="clip") >= hydrogen)
        explained = np.zeros(self.mzs.size, dtype=bool)
        explained[peak[has_room]] = True
        return explained


@functools.lru_cache(maxsize=4096)
def _element_steps(element: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mass, room)`` ``(1, count + 1)``: the mass of 0 to ``count`` atoms of ``element`` and the hydrogens they
    make room for (the ring-plus-double-bond rule of :func:`explained_peaks`). Kept, since the same few elements
    and counts recur in every list; read-only, as they are shared."""
    counts = np.arange(count + 1)
    mass = counts[None, :] * element_masses()[element]
    room = counts[None, :] * (_VALENCES.get(element, 2) - 2)
    mass.flags.writeable = room.flags.writeable = False
    return mass, room


def _fragments(mzs: np.ndarray, intensities: np.ndarray, precursor_mz: float) -> np.ndarray:
    """Which peaks the score looks at: below the precursor region, with some intensity."""
    return (mzs < precursor_mz - PRECURSOR_REGION_DA) & (intensities > 0)


def unexplained_share(
    formula: str | None,
    mzs: np.ndarray,
    intensities: np.ndarray,
    precursor_mz: float,
    adduct: Adduct,
    ppm: float = DEFAULT_PPM,
    min_tolerance_da: float = DEFAULT_MIN_TOLERANCE_DA,
    possible_ions_only: bool = False,
) -> float:
    """Share (0–1) of the square-root intensity of the fragments below the precursor region that no sub-formula of
    the candidate's ion explains (with ``possible_ions_only``, only sub-formulas that can be an ion count:
    :func:`explained_peaks`). 1 when the formula is unknown or unreadable (nothing is explained); 0 for a spectrum
    without fragments below the precursor region (nothing to explain)."""
    mzs, intensities = np.asarray(mzs, dtype=np.float64), np.asarray(intensities, dtype=np.float64)
    fragments = _fragments(mzs, intensities, precursor_mz)
    if not fragments.any():
        return 0.0
    peaks = FragmentPeaks(mzs[fragments], ppm, min_tolerance_da)
    return _share_of(formula, adduct, peaks, np.sqrt(intensities[fragments]), possible_ions_only)


def _share_of(
    formula: str | None, adduct: Adduct, peaks: FragmentPeaks, weights: np.ndarray, possible_ions_only: bool
) -> float:
    """:func:`unexplained_share` of a spectrum with fragments (``weights``: their square-root intensities)."""
    if formula is None:
        return 1.0
    try:
        ion = ion_counts(element_counts(formula), adduct)
    except ValueError:
        return 1.0
    explained = None if ion is None else peaks.explained(ion, adduct, possible_ions_only)
    if explained is None:
        return 1.0
    return float(weights[~explained].sum() / weights.sum())


def unexplained_shares(
    formulas: Sequence[str | None],
    adducts: Sequence[Adduct],
    mzs: np.ndarray,
    intensities: np.ndarray,
    precursor_mz: float,
    scoring: FragmentFormulaScoring,
) -> np.ndarray:
    """:func:`unexplained_share` of each candidate (``formulas[i]`` under ``adducts[i]``) of one spectrum, each
    distinct formula and adduct worked out once, and what depends on the spectrum alone once
    (:class:`FragmentPeaks`)."""
    mzs, intensities = np.asarray(mzs, dtype=np.float64), np.asarray(intensities, dtype=np.float64)
    fragments = _fragments(mzs, intensities, precursor_mz)
    if not fragments.any():
        return np.zeros(len(formulas), dtype=np.float64)
    peaks = FragmentPeaks(mzs[fragments], scoring.ppm, scoring.min_tolerance_da)
    weights = np.sqrt(intensities[fragments])
    shares: dict[tuple[str | None, Adduct], float] = {}
    out = np.empty(len(formulas), dtype=np.float64)
    for index, key in enumerate(zip(formulas, adducts, strict=True)):
        if key not in shares:
            shares[key] = _share_of(key[0], key[1], peaks, weights, scoring.possible_ions_only)
        out[index] = shares[key]
    return out
