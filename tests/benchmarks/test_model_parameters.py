"""Parameter counts of a grid's models (benchmarks/model_parameters.py) against the journal's Figure 2 caption:
with n = 3 modalities SVAE has k·n² encoder parameters and VAEVAE k·n·2^(n−1), k those of one unimodal encoder."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "model_parameters.py"
_spec = importlib.util.spec_from_file_location("model_parameters", _SCRIPT)
model_parameters = importlib.util.module_from_spec(_spec)
sys.modules["model_parameters"] = model_parameters
_spec.loader.exec_module(model_parameters)

GRID_CONFIG = {
    "benchmark": "mnist-split-3",
    "models": ["svae", "vaevae", "mopoe"],
    "protocol": {"latent_dim": 16, "network": "mlp", "hidden_dims": [400], "likelihood": None},
}


@pytest.fixture(scope="module")
def counts() -> dict[str, dict[str, int]]:
    return model_parameters.grid_parameter_counts(GRID_CONFIG)


def test_svae_has_n_experts_per_modality(counts) -> None:
    # MoPoE has one encoder per modality: Σ_i k_i. SVAE has n of them per modality (eq. 33–37): n · Σ_i k_i.
    assert counts["svae"]["encoders"] == 3 * counts["mopoe"]["encoders"]


def test_vaevae_has_about_four_thirds_of_svae_encoders(counts) -> None:
    # k·n·2^(n−1) / (k·n²) = 4/3 for n = 3; a subset network shares one output layer, hence "about".
    ratio = counts["vaevae"]["encoders"] / counts["svae"]["encoders"]
    assert ratio == pytest.approx(4 / 3, rel=0.01)


def test_decoders_are_the_same_networks_for_every_model(counts) -> None:
    assert len({count["decoders"] for count in counts.values()}) == 1
    assert all(count["total"] == count["encoders"] + count["decoders"] for count in counts.values())


def test_main_writes_json_and_markdown(tmp_path, monkeypatch, capsys) -> None:
    grid_dir = tmp_path / "grid"
    grid_dir.mkdir()
    (grid_dir / "grid_config.json").write_text(json.dumps({**GRID_CONFIG, "models": ["mopoe"]}), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["model_parameters.py", str(grid_dir), "--output-dir", str(tmp_path / "out")])
    model_parameters.main()
    written = json.loads((tmp_path / "out" / "parameters.json").read_text(encoding="utf-8"))
    assert written["mopoe"]["total"] == written["mopoe"]["encoders"] + written["mopoe"]["decoders"]
    assert "| mopoe |" in (tmp_path / "out" / "parameters.md").read_text(encoding="utf-8")
    assert "| mopoe |" in capsys.readouterr().out


def test_data_dependent_networks_are_refused() -> None:
    with pytest.raises(ValueError, match="cub"):
        model_parameters.grid_parameter_counts({**GRID_CONFIG, "benchmark": "cub"})
