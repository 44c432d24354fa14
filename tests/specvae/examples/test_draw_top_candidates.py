"""The example script specvae/examples/draw_top_candidates.py: it runs on the shipped example and writes valid
PNG and SVG drawings with a legend."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from PIL import Image

from specvae.examples.draw_top_candidates import main

EXAMPLE_SPECTRA = ("Challenge-082", "Challenge-104", "Challenge-164", "Challenge-010", "Challenge-018")


def test_the_script_draws_every_example_spectrum(tmp_path):
    written = main(tmp_path / "drawings")
    assert all(path.is_file() for path in written)
    for spectrum in EXAMPLE_SPECTRA:
        png = tmp_path / "drawings" / f"{spectrum}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(png) as image:
            image.verify()
        with Image.open(png) as image:
            assert image.size[0] > image.size[1] > 100  # the top 3 side by side
        root = ElementTree.parse(tmp_path / "drawings" / f"{spectrum}.svg").getroot()
        assert root.tag.endswith("svg")
        # Highlights are drawn as filled shapes in the script's colours (orange first: the strongest bit).
        assert "#E59E00" in (tmp_path / "drawings" / f"{spectrum}.svg").read_text()
    index = (tmp_path / "drawings" / "index.md").read_text()
    assert all(f"## {spectrum}" in index for spectrum in EXAMPLE_SPECTRA)
    assert "orange: " in index
