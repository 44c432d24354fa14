"""specvae: annotate MS/MS spectra with molecular structures, using mmcore's multimodal VAEs.

>>> from specvae import Annotator                                   # doctest: +SKIP
>>> results = Annotator.pretrained().annotate("spectra.mgf", "candidates.sdf", top_k=5)
>>> results.to_dataframe()
"""

from __future__ import annotations

import warnings
from typing import Any

# psims (imported by matchms and pyteomics to read mzML) warns on import that hdf5plugin is missing, which only
# matters for writing mzMLb: every specvae command printed it. Only this message is filtered, so every other
# warning still shows.
warnings.filterwarnings("ignore", message=r"hdf5plugin is missing", category=UserWarning)

__version__ = "0.1.0"
__all__ = ["Annotator", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the Annotator pulls in torch, RDKit and matchms, which a `specvae --help`
    # or a reader-only import should not wait for.
    if name == "Annotator":
        from specvae.annotator import Annotator

        return Annotator
    raise AttributeError(f"module 'specvae' has no attribute {name!r}")
