"""Draw the top candidates of the shipped example with the substructures that supported them.

A notebook-style script: run it whole, or cell by cell (``# %%``) in an editor that knows cells::

    python -m specvae.examples.draw_top_candidates --output drawings/

For each example spectrum it writes ``<spectrum>.png`` and ``<spectrum>.svg`` (the top 3 candidates side by
side, the atoms of their three strongest supporting bits highlighted, one colour per bit) and ``index.md``,
which says which colour is which bit. Explanations are relative to the spectrum's average candidate (see
:mod:`specvae.explanation`): a highlighted group is one that this candidate has, its rivals mostly lack, and the
model predicted from the spectrum.
"""

# %% Imports
from __future__ import annotations

import argparse
import re
from importlib import resources
from pathlib import Path

from rdkit import Chem
from rdkit.Chem.Draw import rdMolDraw2D

from specvae import Annotator
from specvae.errors import ErrorReport

EXAMPLES = Path(str(resources.files("specvae") / "examples"))
N_CANDIDATES = 3  # candidates drawn per spectrum
N_HIGHLIGHTED = 3  # supporting bits highlighted per candidate
PANEL_WIDTH, PANEL_HEIGHT = 360, 320
# Colour-blind-safe colours (Okabe-Ito), lightened: highlights sit behind the drawn bonds.
COLOURS = [(0.90, 0.62, 0.0, 0.6), (0.34, 0.71, 0.91, 0.6), (0.0, 0.62, 0.45, 0.6)]
COLOUR_NAMES = ["orange", "sky blue", "green"]


# %% Annotate the shipped spectra with the shipped models, keeping the explanations
def annotate_example(top_k: int = N_CANDIDATES):
    """The example's annotations with explanations (the same call as ``specvae annotate --example --explain``)."""
    annotator = Annotator.pretrained()
    errors = ErrorReport()  # the example has no bad record; a report keeps any out of the warnings
    return annotator.annotate(
        EXAMPLES / "example_spectra.mgf", EXAMPLES / "example_candidates.csv", top_k=top_k, explain=True, errors=errors
    )


# %% Choose what to highlight: the strongest supporting bits the candidate has, with atoms to show
def highlighted_bits(row, n: int = N_HIGHLIGHTED):
    """The first ``n`` supporting bits present in the candidate whose atoms are known (MACCS keys and functional
    groups by their SMARTS match, Morgan bits by the environment that set them), skipping a bit whose atoms are
    all taken by a stronger one (MACCS 127 and 143 share a SMARTS, for example: one colour would hide the other)."""
    chosen, covered = [], set()
    for bit in row.explanation.supporting:
        if bit.present and bit.atoms and not set(bit.atoms) <= covered:
            chosen.append(bit)
            covered |= set(bit.atoms)
        if len(chosen) == n:
            break
    return chosen


def highlights(mol: Chem.Mol, bits) -> tuple[list[int], dict[int, tuple], list[int], dict[int, tuple]]:
    """Atoms and bonds to colour: each bit's atoms and the bonds between them; a stronger bit's colour wins."""
    atom_colours: dict[int, tuple] = {}
    bond_colours: dict[int, tuple] = {}
    for bit, colour in reversed(list(zip(bits, COLOURS, strict=False))):  # strongest last: it paints over
        atoms = set(bit.atoms)
        for atom in atoms:
            atom_colours[atom] = colour
        for bond in mol.GetBonds():
            if bond.GetBeginAtomIdx() in atoms and bond.GetEndAtomIdx() in atoms:
                bond_colours[bond.GetIdx()] = colour
    return list(atom_colours), atom_colours, list(bond_colours), bond_colours


# %% Draw one spectrum's top candidates side by side, to PNG and SVG
def draw(annotation, output: Path) -> list[Path]:
    """``<spectrum>.png`` and ``<spectrum>.svg`` of the first ranked rows of one annotation."""
    rows = annotation.ranked[:N_CANDIDATES]
    mols, legends, atom_lists, atom_maps, bond_lists, bond_maps = [], [], [], [], [], []
    for row in rows:
        # The explanation's atom indices are those of RDKit's reading of the SMILES (Candidate.molecule).
        mol = Chem.MolFromSmiles(row.smiles or "")
        if mol is None:
            mol, bits = Chem.Mol(), []  # a SMILES RDKit refuses (read through its InChI): an empty panel
        else:
            bits = highlighted_bits(row)
        atoms, atom_colours, bonds, bond_colours = highlights(mol, bits)
        mols.append(mol)
        legends.append(f"#{row.rank} {row.identifier} (score {row.score:.1f})")
        atom_lists.append(atoms)
        atom_maps.append(atom_colours)
        bond_lists.append(bonds)
        bond_maps.append(bond_colours)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", annotation.spectrum_id)
    written = []
    size = (PANEL_WIDTH * len(mols), PANEL_HEIGHT, PANEL_WIDTH, PANEL_HEIGHT)
    for drawer, suffix in ((rdMolDraw2D.MolDraw2DCairo(*size), ".png"), (rdMolDraw2D.MolDraw2DSVG(*size), ".svg")):
        drawer.drawOptions().legendFontSize = 16
        drawer.DrawMolecules(
            mols,
            highlightAtoms=atom_lists,
            highlightAtomColors=atom_maps,
            highlightBonds=bond_lists,
            highlightBondColors=bond_maps,
            legends=legends,
        )
        drawer.FinishDrawing()
        path = output / f"{name}{suffix}"
        data = drawer.GetDrawingText()
        if suffix == ".png":
            path.write_bytes(data)
        else:
            path.write_text(data)
        written.append(path)
    return written


# %% Say which colour is which bit
def legend(annotation) -> list[str]:
    """Markdown lines: each drawn candidate and its highlighted bits with their colour and contribution."""
    lines = [f"## {annotation.spectrum_id}", ""]
    for row in annotation.ranked[:N_CANDIDATES]:
        lines.append(f"- #{row.rank} {row.name or row.identifier} (`{row.smiles}`), score {row.score:.1f}")
        for bit, colour in zip(highlighted_bits(row), COLOUR_NAMES, strict=False):
            lines.append(f"  - {colour}: {bit.label} ({bit.contribution:+.2f})")
    return [*lines, ""]


# %% Run everything
def main(output: str | Path = "drawings") -> list[Path]:
    """Annotate the example and draw every annotated spectrum into ``output``; returns the files written."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    written, index = [], ["# Top candidates of the specvae example, supporting substructures highlighted", ""]
    for annotation in annotate_example().annotated():
        written += draw(annotation, output)
        index += legend(annotation)
    (output / "index.md").write_text("\n".join(index))
    return [*written, output / "index.md"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="drawings", help="folder for the drawings (created)")
    for path in main(parser.parse_args().output):
        print(path)
