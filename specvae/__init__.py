"""specvae: annotate MS/MS spectra with molecular structures, using mmcore's multimodal VAEs.

>>> from specvae import Annotator                                   # doctest: +SKIP
>>> results = Annotator.pretrained().annotate("spectra.mgf", "candidates.sdf", top_k=5)
>>> results.to_dataframe()
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Annotator", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the Annotator pulls in torch, RDKit and matchms, which a `specvae --help`
    # or a reader-only import should not wait for.
    if name == "Annotator":
        from specvae.annotator import Annotator

        return Annotator
    raise AttributeError(f"module 'specvae' has no attribute {name!r}")
