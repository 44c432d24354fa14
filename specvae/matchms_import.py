"""Load the parts of matchms that specvae uses without running matchms' package initialisation.

Why: any ``from matchms import ...`` or ``import matchms.<submodule>`` first runs ``matchms/__init__.py``, which
imports every matchms module: similarity scores (scikit-learn, pynndescent, numba), networking (networkx),
mzML export (psims) and plotting (matplotlib). That took about 4 s of a ``specvae annotate`` run whose
annotation itself takes under 1 s, while specvae needs only :class:`matchms.Spectrum` and a handful of
metadata and peak filters, which import none of those.

:func:`defer_matchms_initialisation` registers ``matchms`` (and its ``filtering`` and ``importing``
subpackages) as packages whose ``__init__`` runs on the first attribute that only the ``__init__`` would
define. Submodules still import normally, so ``matchms.Spectrum``, ``matchms.filtering.metadata_processing.*``
and the like load on their own; ``from matchms import Spectrum`` works at once (the class is set on the
package, as matchms' ``__init__`` does); and anything else (``matchms.calculate_scores``,
``from matchms.filtering import default_filters``, ``matchms.__version__``) runs the real ``__init__`` first
and then behaves exactly as with a plain import. The set-up matchms' ``__init__`` does besides importing
(its logger's stdout handler and RDKit's log level) is done at once, and only once, so messages look the
same. ``matplotlib.pyplot``, which ``matchms.Spectrum`` imports only for its plotting methods, is executed on
first use.

It is a no-op when matchms is already imported, so it never replaces a module anyone holds.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

_DEFERRED_PACKAGES = ("matchms", "matchms.filtering", "matchms.importing")
# Modules run on first use, each with the attributes its importers read while being imported: matchms' plotting
# module annotates its functions with ``plt.Axes``, which would run pyplot at import. Until pyplot runs (and
# replaces it with the class), ``Axes`` is the string a postponed annotation (PEP 563) would hold.
_LAZY_MODULES: dict[str, dict[str, Any]] = {"matplotlib.pyplot": {"Axes": "matplotlib.axes.Axes"}}


def defer_matchms_initialisation() -> bool:
    """Make matchms' package initialisation wait until something needs it; ``True`` when now deferred.

    Call it before anything imports matchms (a command-line entry point does so first thing); later calls,
    and calls once matchms is imported, change nothing and return ``False``.
    """
    if any(name in sys.modules for name in _DEFERRED_PACKAGES):
        return False
    spec = importlib.util.find_spec("matchms")
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    packages = [_deferred_package(name) for name in _DEFERRED_PACKAGES]
    for package in packages[1:]:
        parent, _, child = package.__name__.rpartition(".")
        setattr(sys.modules[parent], child, package)
    try:
        for name, placeholders in _LAZY_MODULES.items():
            _register_lazy_module(name, placeholders)
        # importlib, not ``from matchms import ...``: a from-import asks the package first and so would run
        # the deferred initialisation.
        logging_functions = importlib.import_module("matchms.logging_functions")
        spectrum_class = importlib.import_module("matchms.Spectrum").Spectrum
        sys.modules["matchms"].Spectrum = spectrum_class
        # What matchms' __init__ sets up besides its imports; the deferred __init__ skips the logger part.
        logging_functions._init_logger()
        try:
            from rdkit import Chem  # noqa: F401

            logging_functions.set_rdkit_logger_level("rdApp.error")
        except ImportError:
            pass
    except BaseException:
        for name in _DEFERRED_PACKAGES:
            sys.modules.pop(name, None)
        raise
    return True


def _deferred_package(name: str) -> types.ModuleType:
    """A package module for ``name`` whose first missing attribute runs matchms' package initialisation."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot find {name}")
    package = importlib.util.module_from_spec(spec)

    def __getattr__(attribute: str) -> Any:
        _initialise_matchms()
        return getattr(package, attribute)

    def __dir__() -> list[str]:
        _initialise_matchms()
        return dir(package)

    package.__getattr__ = __getattr__  # type: ignore[attr-defined]
    package.__dir__ = __dir__  # type: ignore[method-assign]
    sys.modules[name] = package
    return package


def _initialise_matchms() -> None:
    """Run the deferred ``__init__`` files in place, once, in the order a plain ``import matchms`` runs them.

    matchms' own ``__init__`` imports ``matchms.filtering`` (its ``__init__`` runs) before ``matchms.importing``,
    and both before its remaining modules; running one of them alone would meet the others half set up.
    """
    packages = [sys.modules[name] for name in _DEFERRED_PACKAGES if name in sys.modules]
    pending = [package for package in packages if package.__dict__.pop("__getattr__", None) is not None]
    for package in packages:
        package.__dict__.pop("__dir__", None)
    if not pending:
        return
    logging_functions = importlib.import_module("matchms.logging_functions")
    init_logger = logging_functions._init_logger
    logging_functions._init_logger = _already_initialised
    try:
        for package in sorted(pending, key=lambda package: -package.__name__.count(".")):
            package.__spec__.loader.exec_module(package)
    finally:
        logging_functions._init_logger = init_logger


def _already_initialised(logger_name: str = "matchms") -> None:
    """Stands in for matchms' logger set-up, done when the initialisation was deferred (a second one
    would add a second handler and print every message twice)."""


def _register_lazy_module(name: str, placeholders: dict[str, Any]) -> None:
    """Import ``name`` without running its code until one of its attributes is used (no-op when imported).

    Why not :class:`importlib.util.LazyLoader`: on Python 3.11 the import statement itself reads the module's
    ``__spec__`` (``import matplotlib.pyplot as plt`` checks whether it is still initialising), and any attribute
    read of a lazy module runs it, so matchms' ``import matplotlib.pyplot`` ran pyplot at once (0.2-0.3 s of every
    command). Here the module is created from its spec, with ``__spec__`` and the other import attributes set, and
    a module ``__getattr__`` that runs the module's code in place, in the same module object, on the first
    attribute the code would define; whoever holds the module then holds the real one. ``placeholders`` are set
    on the module until then (the module's code replaces them).
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(placeholders)

    def __getattr__(attribute: str) -> Any:
        _run_in_place(module)
        return getattr(module, attribute)

    def __dir__() -> list[str]:
        _run_in_place(module)
        return dir(module)

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]
    module.__dir__ = __dir__  # type: ignore[method-assign]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def _run_in_place(module: types.ModuleType) -> None:
    """Execute a module registered by :func:`_register_lazy_module`, once."""
    if module.__dict__.pop("__getattr__", None) is None:
        return
    module.__dict__.pop("__dir__", None)
    module.__spec__.loader.exec_module(module)
