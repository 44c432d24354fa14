"""Where the time of a candidate fingerprint goes: SMILES parsing, MACCS keys, Morgan bits, functional-group SMARTS.

Reads every k-th of ``--rows`` CASMI 2016 candidates from ``--data-dir`` (or ``$SPECVAE_DATA_DIR``) and measures each
step separately in CPU time per molecule (``time.process_time``, so that other processes on a shared machine
inflate the numbers less than wall-clock time would), median of ``--repeats`` passes:

- parse: ``parse_structure`` (RDKit ``MolFromSmiles`` + sanitisation);
- MACCS: ``MACCSkeys.GenMACCSKeys`` (RDKit's C++ implementation, ~160 SMARTS);
- Morgan: the radius-2, 2,048-bit generator;
- functional groups, per key: one ``HasSubstructMatch`` call per SMARTS key (the plain way);
- functional groups, catalog: one ``FilterCatalog.GetMatches`` call (what ``compute.py`` does);
- whole fingerprint: ``_Fingerprinter.fingerprint`` (MACCS + Morgan + catalog, each written into the row as a numpy
  array), the same with the bits collected through RDKit's ``GetOnBits`` iterators (the code before that change),
  and as before the catalog change (per-key ``HasSubstructMatch``, bits written one by one);
- two alternatives that were tried and do not pay: the MACCS keys as one ``FilterCatalog`` of RDKit's own MACCS
  SMARTS (the same bits, checked here; keys 125 and 166 computed as RDKit does), and the InChIKey computed without
  stereo layers (``/SNon``: the first block, all the check compares, is the same);
- whole chunk: ``_compute_chunk`` (parse + fingerprint + packing), the work of one worker process, without and
  with the check of each row's stated InChIKey (what ``specvae annotate`` does for a candidate file that states
  InChIKeys).

::

    SPECVAE_DATA_DIR=/data python benchmarks/profile_fingerprints.py --rows 3000 \\
        -o benchmarks/results/casmi2016/fingerprint_profile.md
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import statistics
import time
from pathlib import Path

import numpy as np
import rdkit
from rdkit import Chem, rdBase
from rdkit.Chem import FilterCatalog, MACCSkeys

from specvae.fingerprints import FingerprintDefinition
from specvae.fingerprints.compute import _compute_chunk, _fingerprinter, parse_structure


def read_candidates(data_dir: Path, n_rows: int) -> tuple[list[str], list[str]]:
    """SMILES and stated InChIKeys of every k-th CASMI 2016 candidate row."""
    path = data_dir / "casmi2016" / "candidates.csv.gz"
    with gzip.open(path, "rt", newline="") as stream:
        rows = [(row["SMILES"], row["InChIKey"]) for row in csv.DictReader(stream)]
    step = max(1, len(rows) // n_rows)
    chosen = rows[::step][:n_rows]
    return [smiles for smiles, _ in chosen], [key for _, key in chosen]


def cpu_ms_per_item(function, items, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        for item in items:
            function(item)
        times.append(time.process_time() - started)
    return 1e3 * statistics.median(times) / len(items)


def maccs_catalog() -> FilterCatalog.FilterCatalog:
    """RDKit's MACCS SMARTS (``MACCSkeys.smartsPatts``) as one catalog; a key is set above its match count."""
    catalog = FilterCatalog.FilterCatalog()
    for key, (smarts, count) in MACCSkeys.smartsPatts.items():
        if smarts != "?":  # keys 1, 125 and 166 are not SMARTS
            matcher = FilterCatalog.SmartsMatcher(str(key), Chem.MolFromSmarts(smarts), count + 1)
            catalog.AddEntry(FilterCatalog.FilterCatalogEntry(str(key), matcher))
    return catalog


def catalog_maccs(catalog: FilterCatalog.FilterCatalog, mol: Chem.Mol) -> np.ndarray:
    """MACCS keys from the catalog, keys 125 (more than one aromatic ring) and 166 (several fragments) as RDKit."""
    bits = np.zeros(167, dtype=bool)
    for entry in catalog.GetMatches(mol):
        bits[int(entry.GetDescription())] = True
    aromatic_rings = sum(
        all(mol.GetBondWithIdx(bond).GetIsAromatic() for bond in ring) for ring in mol.GetRingInfo().BondRings()
    )
    bits[125] = aromatic_rings > 1
    bits[166] = len(Chem.GetMolFrags(mol)) > 1
    return bits


def print_and_write(lines: list[str], output: Path | None) -> None:
    """Print the report and, with ``-o``, write it (creating its folder)."""
    text = "\n".join(lines)
    print(text)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("SPECVAE_DATA_DIR"))
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    if args.data_dir is None:
        parser.error("give --data-dir or set SPECVAE_DATA_DIR")
    load_before = os.getloadavg()[0]
    smiles, inchikeys = read_candidates(args.data_dir, args.rows)
    definition = FingerprintDefinition()
    fingerprinter = _fingerprinter(definition)
    molecules = [mol for mol in (parse_structure(text)[0] for text in smiles) if mol is not None]
    patterns = fingerprinter.patterns
    steps = [
        ("parse SMILES (parse_structure)", lambda text: parse_structure(text), smiles),
        ("MACCS keys (GenMACCSKeys, C++)", MACCSkeys.GenMACCSKeys, molecules),
        ("Morgan r2 2048 bits", lambda mol: fingerprinter.morgan.GetFingerprint(mol).GetOnBits(), molecules),
        (
            f"{len(patterns)} functional-group keys, one HasSubstructMatch each",
            lambda mol: [mol.HasSubstructMatch(pattern) for pattern in patterns],
            molecules,
        ),
        (f"{len(patterns)} functional-group keys, one FilterCatalog call", fingerprinter.catalog.GetMatches, molecules),
        ("whole fingerprint of a parsed molecule (fingerprint: numpy writes)", fingerprinter.fingerprint, molecules),
    ]
    offsets = fingerprinter.offsets

    def iterated_fingerprint(mol):
        """The code before the numpy writes: set bits collected through RDKit's GetOnBits iterators."""
        on = [offsets["maccs"] + bit for bit in MACCSkeys.GenMACCSKeys(mol).GetOnBits()]
        on.extend(offsets["morgan"] + bit for bit in fingerprinter.morgan.GetFingerprint(mol).GetOnBits())
        on.extend(offsets["smarts_fg"] + int(entry.GetDescription()) for entry in fingerprinter.catalog.GetMatches(mol))
        bits = np.zeros(definition.n_bits, dtype=bool)
        bits[on] = True
        return bits

    def plain_fingerprint(mol):
        """The per-molecule code before the FilterCatalog change: numpy writes per component and per key."""
        bits = np.zeros(definition.n_bits, dtype=bool)
        bits[offsets["maccs"] + np.fromiter(MACCSkeys.GenMACCSKeys(mol).GetOnBits(), dtype=np.int64)] = True
        morgan = fingerprinter.morgan.GetFingerprintAsNumPy(mol) > 0
        bits[offsets["morgan"] : offsets["morgan"] + definition.morgan_n_bits] = morgan
        for key_index, pattern in enumerate(patterns):
            bits[offsets["smarts_fg"] + key_index] = mol.HasSubstructMatch(pattern)
        return bits

    steps += [
        (
            "whole fingerprint, bits collected through GetOnBits (before the numpy writes)",
            iterated_fingerprint,
            molecules,
        ),
        ("whole fingerprint, before the catalog (per-key matching, per-bit writes)", plain_fingerprint, molecules),
    ]
    catalog = maccs_catalog()
    same_maccs = all(
        np.array_equal(catalog_maccs(catalog, mol), np.array(list(MACCSkeys.GenMACCSKeys(mol)), dtype=bool))
        for mol in molecules
    )
    if not same_maccs:
        raise SystemExit("the catalog's MACCS keys differ from RDKit's: its timing would compare different bits")

    def inchikey(options: str):
        def compute(mol):
            with rdBase.BlockLogs():
                return Chem.MolToInchiKey(mol, options=options)

        return compute

    steps += [
        (
            "not used: MACCS keys as one FilterCatalog (the same bits)",
            lambda mol: catalog_maccs(catalog, mol),
            molecules,
        ),
        ("standard InChIKey (the stated-key check)", inchikey(""), molecules),
        ("not used: InChIKey without stereo layers (/SNon)", inchikey("/SNon"), molecules),
    ]
    rows = [(name, cpu_ms_per_item(function, items, args.repeats)) for name, function, items in steps]
    chunk_ms = cpu_ms_per_item(lambda keys: _compute_chunk(smiles, definition, 0, keys), [None], args.repeats)
    chunk_ms /= len(smiles)
    checked_ms = cpu_ms_per_item(lambda keys: _compute_chunk(smiles, definition, 0, keys), [inchikeys], args.repeats)
    checked_ms /= len(smiles)
    rows += [
        ("one worker's chunk: parse + fingerprint + pack (_compute_chunk)", chunk_ms),
        ("the same chunk, each row's stated InChIKey checked (what annotate does)", checked_ms),
    ]
    load_after = os.getloadavg()[0]

    lines = [
        "# Where the time of a candidate fingerprint goes",
        "",
        f"Command: `python benchmarks/profile_fingerprints.py --rows {args.rows} --repeats {args.repeats}`",
        "",
        f"{len(smiles):,} CASMI 2016 candidates (every k-th row), {len(molecules):,} readable by RDKit; CPU time per "
        f"molecule (process_time, median of {args.repeats} passes). RDKit {rdkit.__version__}; "
        f"{os.cpu_count()} CPUs shared with other work (load average {load_before:.1f} before, "
        f"{load_after:.1f} after).",
        "",
        "| step | CPU ms per molecule |",
        "|---|---|",
        *[f"| {name} | {value:.3f} |" for name, value in rows],
        "",
        f"At {checked_ms:.2f} ms a molecule (stated InChIKeys checked), 234,864 distinct CASMI 2016 candidates take "
        f"{234_864 * checked_ms / 1e3:.0f} CPU seconds: {234_864 * checked_ms / 2e3:.0f} s on two idle cores at best.",
        "",
    ]
    print_and_write(lines, args.output)


if __name__ == "__main__":
    main()
