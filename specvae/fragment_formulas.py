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
    then costs a binary search per peak for the combinations within tolerance.
    """
    masses = element_masses()
    if any(element not in masses for element in ion):
        return None
    heavy = [element for element in sorted(ion) if element != "H"]
    combination_mass, hydrogen_room = np.zeros(1), np.zeros(1)
    for element in heavy:
        counts = np.arange(ion[element] + 1)
        combination_mass = (combination_mass[:, None] + counts[None, :] * masses[element]).ravel()
        hydrogen_room = (hydrogen_room[:, None] + counts[None, :] * (_VALENCES.get(element, 2) - 2)).ravel()
    order = np.argsort(combination_mass)
    heavy_masses = combination_mass[order]
    max_hydrogens = hydrogen_room[order] + 3 if possible_ions_only else np.full(order.size, np.inf)
    hydrogen_mass, hydrogens = masses["H"], ion.get("H", 0)
    charge_sign = 1 if adduct.charge > 0 else -1
    electrons = 0.0 if adduct.intrinsic_charge else charge_sign * ELECTRON_MASS_DA
    # For every hydrogen count h, a peak is explained when a heavy-atom combination that has room for h hydrogens
    # weighs its neutral mass minus h hydrogens: the combinations within tolerance of each (peak, h) target are a
    # contiguous stretch of the sorted masses, walked one offset at a time (stretches hold a few entries at most).
    mzs = np.asarray(mzs, dtype=np.float64)
    hydrogen_counts = np.arange(hydrogens + 1)
    targets = (mzs + electrons)[:, None] - hydrogen_counts[None, :] * hydrogen_mass  # (peaks, h)
    tolerance = np.maximum(ppm * 1e-6 * mzs, min_tolerance_da)[:, None]
    first = np.searchsorted(heavy_masses, targets - tolerance, side="left")
    stop = np.searchsorted(heavy_masses, targets + tolerance, side="right")
    explained = np.zeros(targets.shape, dtype=bool)
    for offset in range(int((stop - first).max(initial=0))):
        index = first + offset
        inside = index < stop
        room = max_hydrogens[np.minimum(index, heavy_masses.size - 1)]
        explained |= inside & (room >= hydrogen_counts[None, :])
    return explained.any(axis=1)


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
    fragments = (mzs < precursor_mz - PRECURSOR_REGION_DA) & (intensities > 0)
    if not fragments.any():
        return 0.0
    if formula is None:
        return 1.0
    try:
        ion = ion_counts(element_counts(formula), adduct)
    except ValueError:
        return 1.0
    explained = (
        None if ion is None else explained_peaks(ion, mzs[fragments], adduct, ppm, min_tolerance_da, possible_ions_only)
    )
    if explained is None:
        return 1.0
    weights = np.sqrt(intensities[fragments])
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
    distinct formula and adduct worked out once."""
    shares: dict[tuple[str | None, Adduct], float] = {}
    out = np.empty(len(formulas), dtype=np.float64)
    for index, key in enumerate(zip(formulas, adducts, strict=True)):
        if key not in shares:
            shares[key] = unexplained_share(
                key[0],
                mzs,
                intensities,
                precursor_mz,
                key[1],
                scoring.ppm,
                scoring.min_tolerance_da,
                scoring.possible_ions_only,
            )
        out[index] = shares[key]
    return out
