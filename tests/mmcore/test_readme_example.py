"""The README's custom-modality example (README.md, "Your own modalities") runs as written."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_custom_modality_example_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- readme-example: custom-modalities -->\n```python\n(.*?)```", text, re.S)
    assert block, "the README lost its custom-modality example"
    monkeypatch.chdir(tmp_path)
    # The example saves with modalities="__main__:make_modalities": run it as the __main__ module it describes.
    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        exec(compile(block.group(1), str(README), "exec"), main.__dict__)
    finally:
        torch.set_num_threads(previous)
    printed = capsys.readouterr().out
    accuracies = [float(line.rsplit(" ", 1)[1]) for line in printed.splitlines() if "label accuracy" in line]
    assert len(accuracies) == 2 and min(accuracies) > 0.5, printed
    same = main.__dict__["same"]
    assert type(same).name == "svae" and (tmp_path / "svae.safetensors").exists()
