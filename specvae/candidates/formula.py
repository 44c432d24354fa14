"""Keep only candidates of a given molecular formula, or made of given elements (``--formula``, ``--elements``).

Why a filter on candidates rather than on the table: a formula known from the isotope pattern (SIRIUS, or the
instrument's software) or the elements a sample can hold (no halogens in a plant extract) shrink a pool of
isomers and near-isobars that the spectrum alone cannot tell apart.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from specvae.candidates.candidate import Candidate

_ELEMENT_COUNT = re.compile(r"([A-Z][a-z]?)(\d*)")
_FORMULA = re.compile(r"^(?:[A-Z][a-z]?\d*)+$")


def formula_counts(formula: str) -> Counter[str]:
    """Element counts of a plain formula (``"C10H12O3"``); a trailing charge (``+``, ``-``, ``2+``) is ignored.

    Raises ``ValueError`` for text that is no formula.
    """
    text = re.sub(r"\d*[+-]+\d*$", "", formula.strip())
    if not _FORMULA.match(text):
        raise ValueError(f"not a molecular formula: {formula!r}")
    counts: Counter[str] = Counter()
    for element, count in _ELEMENT_COUNT.findall(text):
        counts[element] += int(count) if count else 1
    return counts


def parse_elements(elements: str) -> set[str]:
    """The element symbols of ``"CHNOPS"`` or ``"C,H,N,O,Cl"``; raises ``ValueError`` for other text."""
    text = elements.replace(",", "").replace(" ", "")
    if not text or not _FORMULA.match(text) or any(char.isdigit() for char in text):
        raise ValueError(f"not a list of element symbols: {elements!r} (e.g. CHNOPS or C,H,N,O,Cl)")
    return {element for element, _ in _ELEMENT_COUNT.findall(text)}


def candidate_filter(formula: str | None = None, elements: str | None = None) -> Callable[[Candidate], bool]:
    """A predicate accepting the candidates whose formula is ``formula`` (element counts compared, so the order
    of the symbols does not matter) and holds no element outside ``elements``. Raises ``ValueError`` for a bad
    ``formula`` or ``elements`` (before any candidate is read)."""
    wanted = formula_counts(formula) if formula else None
    allowed = parse_elements(elements) if elements else None

    def keep(candidate: Candidate) -> bool:
        try:
            counts = formula_counts(candidate.molecular_formula)
        except ValueError:
            return False
        if wanted is not None and counts != wanted:
            return False
        return allowed is None or set(counts) <= allowed

    return keep
