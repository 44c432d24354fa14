"""Why a candidate scored as it did: the named fingerprint bits that most raised and most lowered its score.

A candidate's score is a sum over the kept bits (see :mod:`specvae.ranking`)::

    score(y) = constant + Σ_i y_i w_i,        w_i = log p_i − log(1 − p_i)  (the predicted log-odds)

Measured against what? A bit's contribution here is taken **relative to the average candidate of the same
list**::

    contribution_i = (y_i − ȳ_i) w_i,         ȳ_i = share of the spectrum's candidates that have bit i
    score(y)       = baseline + Σ_i contribution_i,   baseline = constant + Σ_i ȳ_i w_i = the list's mean score

Why not relative to the bit being absent (``y_i w_i``)? That reference answers "what does this bit add over a
molecule without it", which mostly restates the prediction: every aromatic candidate would list "aromatic ring"
first, although it cannot tell them apart. The ranking only compares candidates of one list, so what explains
a rank is where a candidate differs from its rivals: a bit that every candidate shares contributes 0 and is not
listed, and a bit the candidate *lacks* while its rivals have it contributes too (listed as ``not …``: supporting
when the model predicted it absent, opposing when it predicted it present). The contributions and the baseline
sum exactly to the score, so they can be checked and added up.

Names come from the fingerprint definition (:meth:`FingerprintDefinition.kept_bit_names`): functional groups by
their name, MACCS keys with RDKit's SMARTS of the key, and Morgan bits (hashed, folded environments) with a
SMILES of one environment that set the bit, taken from the candidate itself (RDKit's bit info), or from the
best-ranked candidate of the list that has it when the candidate lacks the bit. That SMILES reads as a SMARTS
that matches the environment; it is an example, not the bit's definition (a folded bit is set by many
environments). ``atoms`` are the candidate's atoms (indices of :meth:`Candidate.molecule`, RDKit's reading of
the SMILES) that match the key or form the environment, for drawing.

Example::

    results = annotator.annotate("spectra.mgf", "candidates.csv", explain=True)
    row = results[0].ranked[0]
    for bit in row.explanation.supporting[:5]:
        print(bit.label, round(bit.contribution, 2), bit.atoms)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import MACCSkeys, rdFingerprintGenerator

from specvae.fingerprints import FingerprintDefinition
from specvae.ranking import log_odds_weights

# The MACCS keys RDKit computes in code rather than by a SMARTS, described in words.
_MACCS_WITHOUT_SMARTS = {1: "isotope", 125: "two or more aromatic rings", 166: "two or more fragments"}

SUMMARY_LENGTH = 5
"""Bits listed in the TSV columns ``supporting_bits`` / ``opposing_bits`` (JSON and the API have all of them)."""


@dataclass(frozen=True)
class BitContribution:
    """One kept fingerprint bit's share of a candidate's score, relative to the list's average candidate.

    ``name``: the bit's name in the fingerprint definition; ``present``: whether the candidate has the bit;
    ``smarts``: the key's SMARTS (functional groups, MACCS) or an example environment (Morgan bits), None when
    there is none (atom pairs, MACCS keys that RDKit computes without a SMARTS); ``atoms``: the candidate's
    matching atoms (empty when it lacks the bit); ``example``: for a Morgan bit the candidate lacks, the
    identifier of the candidate whose environment ``smarts`` shows; ``min_matches``: the matches of ``smarts`` the
    bit needs (MACCS keys such as 140, three or more oxygens, count them); ``description``: the bit in words
    where it has no SMARTS (MACCS 125, two or more aromatic rings).
    """

    name: str
    contribution: float
    present: bool
    smarts: str | None = None
    atoms: tuple[int, ...] = ()
    example: str | None = None
    min_matches: int = 1
    description: str | None = None

    @property
    def label(self) -> str:
        """The bit as one short text: ``FG: ester``, ``MACCS 160: [C;H3,H4]``, ``Morgan r2 bit 456: cC(=O)O``,
        prefixed ``not`` when the candidate lacks the bit. Functional-group names stand without their SMARTS."""
        text = self.name
        if self.smarts and not self.name.startswith("FG: "):
            text = f"{text}: {self.smarts}"
            if self.min_matches > 1:
                text = f"{text} ({self.min_matches}+ matches)"
        elif self.description:
            text = f"{text}: {self.description}"
        return text if self.present else f"not {text}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "bit": self.name,
            "label": self.label,
            "contribution": self.contribution,
            "present": self.present,
            "smarts": self.smarts,
            "atoms": list(self.atoms),
            "example": self.example,
            "min_matches": self.min_matches,
            "description": self.description,
        }


@dataclass(frozen=True)
class Explanation:
    """A candidate's score split into ``baseline_score`` (the mean score of the spectrum's candidate list) and
    per-bit contributions: ``supporting`` (positive, largest first) and ``opposing`` (negative, most negative
    first), and, for a model that also scores fragment formulas (:mod:`specvae.fragment_formulas`), the
    candidate's ``fragment_formula_score`` (≤ 0: the weight times the share of the spectrum its formula cannot
    explain). Bits with no contribution (shared by every candidate of the list) are left out, so
    ``score == baseline_score + Σ supporting + Σ opposing + fragment_formula_score + formula_conditioning_score``
    up to rounding (the last is 0 for a model without formula conditioning)."""

    score: float
    baseline_score: float
    supporting: tuple[BitContribution, ...] = field(default_factory=tuple)
    opposing: tuple[BitContribution, ...] = field(default_factory=tuple)
    fragment_formula_score: float = 0.0
    formula_conditioning_score: float = 0.0
    """What scoring under the candidate's own formula changed (:mod:`specvae.formula_conditioning`; 0 without)."""

    def other_bits_score(self, n: int = SUMMARY_LENGTH) -> float:
        """What the bits beyond the first ``n`` supporting and ``n`` opposing ones add up to."""
        listed = sum(bit.contribution for bit in self.supporting[:n]) + sum(
            bit.contribution for bit in self.opposing[:n]
        )
        return self.score - self.baseline_score - listed - self.fragment_formula_score - self.formula_conditioning_score

    def summary(self, n: int = SUMMARY_LENGTH) -> dict[str, Any]:
        """The TSV columns (:data:`specvae.output.EXPLANATION_COLUMNS`): the first ``n`` bits each way as
        ``"label (+1.23); label (+0.98)"``, the baseline and the rest, which sum to the score."""
        return {
            "baseline_score": self.baseline_score,
            "supporting_bits": format_contributions(self.supporting[:n]),
            "opposing_bits": format_contributions(self.opposing[:n]),
            "other_bits_score": self.other_bits_score(n),
            "fragment_formula_score": self.fragment_formula_score,
            "formula_conditioning_score": self.formula_conditioning_score,
        }

    def as_dict(self) -> dict[str, Any]:
        """The full lists (JSON output)."""
        return {
            "baseline_score": self.baseline_score,
            "supporting": [bit.as_dict() for bit in self.supporting],
            "opposing": [bit.as_dict() for bit in self.opposing],
            "fragment_formula_score": self.fragment_formula_score,
            "formula_conditioning_score": self.formula_conditioning_score,
        }


def format_contributions(bits: Sequence[BitContribution]) -> str:
    """``"label (+1.23); label (-0.98)"``; items are separated by ``"; "``, which no label contains (a SMARTS
    may hold ``;`` but never followed by a space)."""
    return "; ".join(f"{bit.label} ({bit.contribution:+.2f})" for bit in bits)


def bit_contributions(predicted_probabilities: np.ndarray, candidate_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(contributions (n_candidates, n_bits), baselines (n_candidates,))`` relative to the list's average
    candidate: ``(y − ȳ) · log_odds`` and the list's mean score (the same for every row), such that
    ``baseline + contributions.sum(axis=1)`` is each candidate's score (:func:`specvae.ranking.score_candidates`)."""
    log_odds, constant = log_odds_weights(predicted_probabilities)
    bits = np.asarray(candidate_bits, dtype=np.float64)
    mean_bits = bits.mean(axis=0)
    contributions = (bits - mean_bits) * log_odds
    baseline = constant + float(mean_bits @ log_odds)
    return contributions, np.full(bits.shape[0], baseline)


class BitDescriber:
    """SMARTS and matching atoms of the kept bits of one fingerprint definition, for given molecules."""

    def __init__(self, definition: FingerprintDefinition) -> None:
        self.names = definition.kept_bit_names()
        self.morgan_radius = definition.morgan_radius
        self.morgan = rdFingerprintGenerator.GetMorganGenerator(
            radius=definition.morgan_radius, fpSize=definition.morgan_n_bits
        )
        # Each kept bit as (component, index within the component).
        layout: list[tuple[str, int]] = []
        for component, size in definition.component_sizes().items():
            layout.extend((component, index) for index in range(size))
        self.kept = [layout[bit] for bit in definition.kept_bit_indices()]
        self.fg_smarts = [smarts for _, smarts in definition.smarts_keys]

    def smarts(self, kept_index: int) -> str | None:
        """The key's SMARTS (functional groups, MACCS keys that have one); None for hashed bits."""
        component, index = self.kept[kept_index]
        if component == "smarts_fg":
            return self.fg_smarts[index]
        if component == "maccs":
            pattern = MACCSkeys.smartsPatts.get(index, ("?", 0))[0]
            return None if pattern == "?" else pattern
        return None

    def min_matches(self, kept_index: int) -> int:
        """Matches of the SMARTS the bit needs: MACCS keys with a count are set by more than ``count`` matches."""
        component, index = self.kept[kept_index]
        if component == "maccs":
            return MACCSkeys.smartsPatts.get(index, ("?", 0))[1] + 1
        return 1

    def description(self, kept_index: int) -> str | None:
        component, index = self.kept[kept_index]
        return _MACCS_WITHOUT_SMARTS.get(index) if component == "maccs" else None

    def is_morgan(self, kept_index: int) -> bool:
        return self.kept[kept_index][0] == "morgan"

    def atoms(self, mol: Chem.Mol, kept_index: int) -> tuple[int, ...]:
        """The atoms of ``mol`` that match a key bit (all its matches), empty when none or not a key."""
        smarts = self.smarts(kept_index)
        pattern = _compiled_smarts(smarts) if smarts else None
        if pattern is None:
            return ()
        return tuple(sorted({atom for match in mol.GetSubstructMatches(pattern, maxMatches=100) for atom in match}))

    def morgan_environments(self, mol: Chem.Mol) -> dict[int, tuple[str, tuple[int, ...]]]:
        """For each Morgan bit (index within the component) set in ``mol``: ``(SMILES of one environment that
        sets it, its atoms)``, the smallest-radius environment that names more than one atom where there is one."""
        output = rdFingerprintGenerator.AdditionalOutput()
        output.AllocateBitInfoMap()
        self.morgan.GetFingerprint(mol, additionalOutput=output)
        environments = {}
        for bit, entries in output.GetBitInfoMap().items():
            atom, radius = sorted(entries, key=lambda entry: (entry[1] == 0, entry[1]))[0]
            environments[bit] = _environment(mol, atom, radius)
        return environments

    def morgan_bit(self, kept_index: int) -> int:
        return self.kept[kept_index][1]


@functools.lru_cache(maxsize=1024)
def _compiled_smarts(smarts: str) -> Chem.Mol | None:
    with rdBase.BlockLogs():
        return Chem.MolFromSmarts(smarts)


def _environment(mol: Chem.Mol, atom: int, radius: int) -> tuple[str, tuple[int, ...]]:
    if radius == 0:
        atoms, bonds = [atom], []
    else:
        bonds = list(Chem.FindAtomEnvironmentOfRadiusN(mol, radius, atom))
        atoms = sorted({end for bond in bonds for end in _ends(mol, bond)} | {atom})
    with rdBase.BlockLogs():
        text = Chem.MolFragmentToSmiles(mol, atomsToUse=atoms, bondsToUse=bonds or None, canonical=True)
    return text, tuple(atoms)


def _ends(mol: Chem.Mol, bond: int) -> tuple[int, int]:
    found = mol.GetBondWithIdx(bond)
    return found.GetBeginAtomIdx(), found.GetEndAtomIdx()


@functools.lru_cache(maxsize=8)
def bit_describer(definition: FingerprintDefinition) -> BitDescriber:
    """One describer per definition (building it lists every bit's place)."""
    return BitDescriber(definition)


def explain_candidates(
    predicted_probabilities: np.ndarray,
    candidate_bits: np.ndarray,
    scores: np.ndarray,
    definition: FingerprintDefinition,
    positions: Sequence[int],
    molecule: Callable[[int], Chem.Mol | None],
    identifier: Callable[[int], str | None],
    order: Sequence[int],
) -> dict[int, Explanation]:
    """Explanations of the candidates at ``positions`` of a list with kept ``candidate_bits`` ``(n, n_kept)``
    and ``scores`` (:func:`specvae.ranking.score_candidates`: an explanation's parts add up to that score).

    ``molecule(position)`` gives a candidate's molecule (None when it cannot be parsed: names without atoms);
    ``order`` is the list best first, to find, for a Morgan bit a candidate lacks, the best-ranked candidate that
    has it and show its environment.
    """
    describer = bit_describer(definition)
    bits = np.asarray(candidate_bits, dtype=bool)
    contributions, baselines = bit_contributions(predicted_probabilities, bits)
    environments: dict[int, dict[int, tuple[str, tuple[int, ...]]]] = {}

    def morgan_of(position: int) -> dict[int, tuple[str, tuple[int, ...]]]:
        if position not in environments:
            mol = molecule(position)
            environments[position] = {} if mol is None else describer.morgan_environments(mol)
        return environments[position]

    order = np.asarray(order, dtype=np.int64)
    explanations = {}
    for position in positions:
        mol = molecule(position)
        row = contributions[position]
        described = []
        for kept_index in np.flatnonzero(row):
            present = bool(bits[position, kept_index])
            smarts, atoms, example = describer.smarts(kept_index), (), None
            if describer.is_morgan(kept_index):
                morgan = describer.morgan_bit(kept_index)
                having = order[bits[order, kept_index]]
                source = position if present else next((int(o) for o in having if morgan in morgan_of(int(o))), None)
                if source is not None and morgan in morgan_of(source):
                    smarts, environment_atoms = morgan_of(source)[morgan]
                    atoms = environment_atoms if present else ()
                    example = None if present else identifier(source)
            elif present and mol is not None:
                atoms = describer.atoms(mol, kept_index)
            described.append(
                BitContribution(
                    describer.names[kept_index],
                    float(row[kept_index]),
                    present,
                    smarts,
                    atoms,
                    example,
                    describer.min_matches(kept_index),
                    describer.description(kept_index),
                )
            )
        supporting = sorted((bit for bit in described if bit.contribution > 0), key=lambda bit: -bit.contribution)
        opposing = sorted((bit for bit in described if bit.contribution < 0), key=lambda bit: bit.contribution)
        explanations[position] = Explanation(
            float(scores[position]), float(baselines[position]), tuple(supporting), tuple(opposing)
        )
    return explanations
