"""What the rest of specvae asks of a spectrum's (matchms-harmonised) metadata.

After matchms' key harmonisation, MGF ``TITLE`` is ``title``, ``SPECTRUMID`` is ``spectrum_id``,
``FEATURE_ID`` is ``feature_id``, ``PEPMASS`` is ``precursor_mz``, ``IONMODE`` is ``ionmode`` (lower-case),
``NAME`` is ``compound_name`` and ``EXACTMASS`` is ``parent_mass``; ``adduct``, ``smiles``, ``inchi``,
``inchikey``, ``charge`` keep their names. These helpers read those keys, so no other module needs to
know them.
"""

from __future__ import annotations

from matchms import Spectrum

from specvae.adducts import Adduct, default_adduct, parse_adduct
from specvae.errors import SpectrumRejectedError, UnknownAdductError

IDENTIFIER_KEYS = ("title", "spectrum_id", "feature_id")
"""Metadata keys that name a spectrum, in the order a per-spectrum candidate list is matched against."""


def spectrum_identifiers(spectrum: Spectrum) -> list[str]:
    """The spectrum's names (TITLE, SPECTRUMID, FEATURE_ID), non-empty ones only, in that order."""
    names = []
    for key in IDENTIFIER_KEYS:
        value = spectrum.get(key)
        if value is not None and str(value).strip():
            names.append(str(value).strip())
    return names


def spectrum_title(spectrum: Spectrum) -> str | None:
    """The first of the spectrum's identifiers, for messages and output tables."""
    names = spectrum_identifiers(spectrum)
    return names[0] if names else None


def spectrum_ion_mode(spectrum: Spectrum) -> str | None:
    """``"positive"``, ``"negative"``, or ``None`` when neither the ion mode nor the charge says."""
    mode = str(spectrum.get("ionmode") or "").strip().lower()
    if mode in ("positive", "negative"):
        return mode
    charge = spectrum.get("charge")
    if isinstance(charge, int) and charge != 0:
        return "positive" if charge > 0 else "negative"
    return None


def spectrum_adduct(spectrum: Spectrum) -> Adduct:
    """The spectrum's adduct: its ``adduct`` metadata, else the default of its ion mode ([M+H]+ / [M-H]-).

    Raises :class:`UnknownAdductError` for an adduct that cannot be read, or when neither an adduct nor an
    ion mode is known.
    """
    stated = spectrum.get("adduct")
    if stated is not None and str(stated).strip():
        return parse_adduct(str(stated))
    mode = spectrum_ion_mode(spectrum)
    if mode is None:
        raise UnknownAdductError(None, "the spectrum names no adduct and no ion mode")
    return default_adduct(mode)


def spectrum_neutral_mass(spectrum: Spectrum, adduct: Adduct | str | None = None) -> float:
    """Neutral monoisotopic mass of the precursor's molecule, from precursor m/z and adduct.

    ``adduct`` overrides what the spectrum says (see :func:`spectrum_adduct`).
    """
    precursor = spectrum.get("precursor_mz")
    if not isinstance(precursor, (int, float)):
        raise SpectrumRejectedError("no precursor m/z: cannot compute a neutral mass")
    if adduct is None:
        resolved = spectrum_adduct(spectrum)
    else:
        resolved = adduct if isinstance(adduct, Adduct) else parse_adduct(adduct)
    return resolved.neutral_mass(float(precursor))


def spectrum_precursor_mz(spectrum: Spectrum) -> float | None:
    """The precursor m/z (MGF ``PEPMASS``), or ``None`` when the spectrum states none."""
    precursor = spectrum.get("precursor_mz")
    return float(precursor) if isinstance(precursor, (int, float)) else None


def spectrum_retention_time(spectrum: Spectrum) -> float | None:
    """The retention time as the file states it (matchms' ``retention_time``), or ``None`` when it has none."""
    value = spectrum.get("retention_time")
    try:
        return None if value is None or str(value).strip() == "" else float(value)
    except (TypeError, ValueError):
        return None
