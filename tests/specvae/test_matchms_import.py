"""Deferred matchms initialisation (specvae/matchms_import.py): the annotate path imports no scikit-learn, and
the rest of matchms still behaves as after a plain ``import matchms``."""

import json
import subprocess
import sys

_PUBLIC_API = """
import json, logging, sys
import matchms, matchms.filtering, matchms.importing
print(json.dumps({
    "matchms": sorted(n for n in dir(matchms) if not n.startswith("_")),
    "filtering": sorted(n for n in dir(matchms.filtering) if not n.startswith("_")),
    "importing": sorted(n for n in dir(matchms.importing) if not n.startswith("_")),
    "version": matchms.__version__,
    "spectrum": repr(matchms.Spectrum),
    "handlers": len(logging.getLogger("matchms").handlers),
    "rdkit_level": str(logging.getLogger("rdkit").level),
}))
"""


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


def test_annotate_path_skips_the_heavy_parts_of_matchms():
    loaded = json.loads(
        _run(
            "import json, sys\n"
            "from specvae.matchms_import import defer_matchms_initialisation\n"
            "assert defer_matchms_initialisation()\n"
            "assert not defer_matchms_initialisation()\n"
            "import specvae.annotator, specvae.spectra.reading\n"
            "from matchms import Spectrum\n"
            "assert isinstance(Spectrum, type), Spectrum\n"
            "print(json.dumps([m for m in ('sklearn', 'pynndescent', 'networkx', 'numba', 'psims') "
            "if m in sys.modules]))"
        )
    )
    assert loaded == []


def test_deferred_matchms_has_the_same_api_and_logging_as_a_plain_import():
    plain = json.loads(_run(_PUBLIC_API))
    deferred = json.loads(
        _run(
            "from specvae.matchms_import import defer_matchms_initialisation\n"
            "defer_matchms_initialisation()\n"
            "import specvae.spectra.filters\n" + _PUBLIC_API
        )
    )
    assert deferred == plain
    assert plain["handlers"] == 1


def test_from_import_of_a_filter_runs_the_deferred_initialisation():
    names = _run(
        "from specvae.matchms_import import defer_matchms_initialisation\n"
        "defer_matchms_initialisation()\n"
        "from matchms.filtering import default_filters, select_by_mz\n"
        "from matchms.importing import load_from_mgf\n"
        "from matchms import calculate_scores, Scores\n"
        "print(default_filters.__name__, select_by_mz.__name__, load_from_mgf.__name__, Scores.__name__)"
    )
    assert names == "default_filters select_by_mz load_from_mgf Scores"


def test_pyplot_runs_on_first_use_and_is_then_the_real_module():
    # matchms.Spectrum imports pyplot for its plotting methods only; the annotate path must not pay for it.
    result = json.loads(
        _run(
            "import json, sys\n"
            "from specvae.matchms_import import defer_matchms_initialisation\n"
            "defer_matchms_initialisation()\n"
            "import specvae.annotator\n"
            "from matchms import Spectrum\n"
            "before = 'matplotlib.figure' in sys.modules\n"
            "import matplotlib\n"
            "matplotlib.use('Agg')\n"
            "import matplotlib.pyplot as plt\n"
            "import matplotlib.axes\n"
            "fig, ax = plt.subplots()\n"
            "print(json.dumps({'before': before, 'axes': isinstance(ax, matplotlib.axes.Axes),\n"
            "    'same': plt.Axes is matplotlib.axes.Axes and sys.modules['matplotlib.pyplot'] is plt}))"
        )
    )
    assert result == {"before": False, "axes": True, "same": True}
