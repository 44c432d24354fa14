"""Fuzz campaign: damaged and hostile input files through specvae's readers, each outcome classified.

For every input format (MGF, MSP, mzML, SDF, SMILES list, CSV, TSV) the campaign builds a small valid file from random
records, damages it with one to three mutations (bit flips, truncation, deleted/duplicated/swapped/merged lines,
junk lines and binary junk, stray quotes, bad numbers such as ``CHARGE=abc``, ``PEPMASS=NA``, NaN/inf/huge
intensities) and sometimes a whole-file change (UTF-8 byte-order mark, UTF-16/32 with and without a mark, Latin-1,
CRLF line ends, gzip, a gzip stream cut short). The generator knows which records each mutation touched, so what
specvae reads can be checked against an independent account of what the file holds:

- **clean**: no error, and every record the file still holds was read (intact ones with their exact content);
- **clear error**: every error is a specvae error naming the file (and a record, a line, or ``file`` for the whole
  file), and every record the damage did not touch was read unchanged;
- **crash**: an exception other than specvae's own error types (a traceback for the user);
- **silent**: a record lost or changed without an error: an untouched record missing or altered, or damaged
  records missing beyond what the errors (and the unrecognisable records read instead) account for.

Fingerprint caches (``cache``): a valid cache of eight structures (a sealed 512-byte header holding the sha256 of
the HDF5 file after it) with bit flips, truncation or binary junk anywhere, or two rows' keys or bits swapped through
HDF5 and the header sealed again (a cache written wrong, so that the row checksums behind the seal are what is
tested), looked up as annotate looks it up in a worker process with a time limit; clean when every row has its true
bits, a clear error when the cache is refused naming the file (or rows are reported), silent when a row is read with
other bits, a crash when the lookup hangs (libhdf5 can loop forever on a damaged file it is given).
Model files are not fuzzed here (loading one costs seconds): their checksums are tested in tests/specvae.

Reading uses the calls ``specvae annotate`` makes: :func:`~specvae.spectra.iter_clean_records` for spectra;
:func:`~specvae.candidates.read_candidates`, :meth:`~specvae.candidates.CandidateSet.from_entries` and the
fingerprint step with the InChIKey check (:func:`~specvae.fingerprints.compute_fingerprints` with
``expected_inchikeys``) for candidates.

Bounded and deterministic: ``--per-format`` files per format from ``--seed`` (the same arguments give the same
files and counts). Crashing and silent files are written to ``--failures`` for reproduction::

    python benchmarks/fuzz_campaign.py --per-format 10000 --seed 0 -o benchmarks/results/fuzz_campaign.md
"""

from __future__ import annotations

import argparse
import base64
import codecs
import gzip
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rdkit import Chem
from tqdm import tqdm

from specvae.candidates import CandidateSet, read_candidates
from specvae.errors import ErrorReport, SpecvaeError
from specvae.fingerprints import FingerprintCache, FingerprintCacheError, FingerprintDefinition, compute_fingerprints
from specvae.fingerprints.cache import seal_cache_file
from specvae.spectra import iter_clean_records

OUTCOMES = ("clean", "clear error", "crash", "silent")
FORMATS = ("mgf", "msp", "mzml", "sdf", "smiles", "csv", "tsv", "cache")
SMILES_POOL = (
    "CCO", "c1ccccc1", "CC(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "OCC(O)CO", "C1CCNCC1", "ClCCl", "c1ccncc1",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "O=C(O)c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C1=CC=C2C(=C1)C=CC=C2", "NCCc1ccc(O)c(O)c1",
    "OC1C(O)C(O)C(O)C(O)C1O", "CCCCCCCCCCCCCCCC(=O)O", "c1ccc2[nH]ccc2c1", "CC(C)(C)c1ccc(O)cc1", "COc1ccccc1",
    "N[C@@H](C)C(=O)O", "OC(=O)CCC(=O)O", "C=CC(=O)OC", "CSC", "c1ccsc1", "FC(F)(F)c1ccccc1", "BrCCBr",
    "O=C1CCCCC1", "CC#N", "NC(=N)N", "OCCN(CCO)CCO", "CCOC(=O)c1ccccc1",
)  # fmt: skip
NAMES = ("alpha", "beta", "café", "Ωmega", "x y", "naïve", "日本", "plain")
BAD_VALUES = (
    "abc", "NA", "nan", "NaN", "inf", "-inf", "1e309", "-1e309", "1e400", "-5", "0", "", "+", "1+ 2+", "1e9",
    "1e308", "0x1F", "1,5", "--1", "1..2", "\x00", '"', "∞",
)  # fmt: skip
JUNK_LINES = (
    "BEGIN IONS", "END IONS", "$$$$", "Name: intruder", "PEPMASS=NA", "CHARGE=abc", "ADDUCT=[M+Na]+",
    "IONMODE=negative", "Num Peaks: 99", "M  END", "<spectrum>", "</spectrum>", '"', '"CCO', "id,smiles", "\t\t\t",
    "1 2 3 4", "12.5 nan",
    "100 inf", "-3 5", "# comment", "SMILES", "; x", "\ufeffBEGIN IONS", "  1  2  0  0  0  0  0  0  0  0999 V2000",
)  # fmt: skip
FINGERPRINT = FingerprintDefinition()


# ---------------------------------------------------------------------------------------------------- valid files
@dataclass
class Generated:
    """A valid file: its lines, each record's line span (inclusive), and what each record must read as."""

    suffix: str
    lines: list[str]
    spans: list[tuple[int, int]]
    expected: list[dict]
    shared_lines: frozenset[int] = frozenset()  # lines that belong to every record (a table's header)
    base64_lines: frozenset[int] = frozenset()  # mzML lines holding one <binary> element
    damage_reaches_end: bool = False  # mzML: structural damage ends the readable document
    gzip_ok: bool = True


def _peaks(rng: random.Random, precursor: float) -> tuple[list[float], list[float]]:
    count = rng.randint(1, 8)
    mz = sorted({round(rng.uniform(20.0, min(precursor, 990.0)), rng.randint(0, 5)) for _ in range(count)})
    intensities = [round(rng.uniform(1.0, 1e5), rng.randint(0, 3)) for _ in mz]
    return mz, intensities


def _spectrum_record(rng: random.Random, index: int) -> dict:
    precursor = round(rng.uniform(60.0, 900.0), rng.randint(1, 5))
    mz, intensities = _peaks(rng, precursor)
    mode = rng.choice(("positive", "negative"))
    return {
        "id": f"s{index}{rng.choice(('', '', '-' + rng.choice(NAMES)))}",
        "precursor_mz": precursor,
        "ionmode": mode,
        "charge": 1 if mode == "positive" else -1,
        "adduct": rng.choice((None, "[M+H]+" if mode == "positive" else "[M-H]-")),
        "mz": mz,
        "intensities": intensities,
    }


def generate_mgf(rng: random.Random) -> Generated:
    lines: list[str] = []
    spans, expected = [], []
    if rng.random() < 0.2:
        lines += ["# an MGF file\n", "\n"]
    for index in range(rng.randint(1, 6)):
        record = _spectrum_record(rng, index)
        start = len(lines)
        lines += ["BEGIN IONS\n", f"TITLE={record['id']}\n", f"PEPMASS={record['precursor_mz']!r}\n"]
        lines.append(f"CHARGE={abs(record['charge'])}{'+' if record['charge'] > 0 else '-'}\n")
        lines.append(f"IONMODE={record['ionmode']}\n")
        if record["adduct"]:
            lines.append(f"ADDUCT={record['adduct']}\n")
        lines += [f"{mz!r} {intensity!r}\n" for mz, intensity in zip(record["mz"], record["intensities"], strict=True)]
        lines.append("END IONS\n")
        spans.append((start, len(lines) - 1))
        expected.append(record)
        lines.append("\n")
    return Generated(".mgf", lines, spans, expected)


def generate_msp(rng: random.Random) -> Generated:
    lines: list[str] = []
    spans, expected = [], []
    for index in range(rng.randint(1, 6)):
        record = _spectrum_record(rng, index)
        record["id"] = f"m{index}"  # the name: matchms cleans compound names, so keep them plain
        record["charge"] = None
        start = len(lines)
        lines += [f"Name: {record['id']}\n", f"PrecursorMZ: {record['precursor_mz']!r}\n"]
        lines.append(f"Ion_mode: {record['ionmode']}\n")
        if record["adduct"]:
            lines.append(f"Precursor_type: {record['adduct']}\n")
        lines.append(f"Num Peaks: {len(record['mz'])}\n")
        lines += [f"{mz!r} {intensity!r}\n" for mz, intensity in zip(record["mz"], record["intensities"], strict=True)]
        spans.append((start, len(lines) - 1))
        expected.append(record)
        lines.append("\n")
    return Generated(".msp", lines, spans, expected)


_MZML_HEAD = """<?xml version="1.0" encoding="utf-8"?>
<mzML xmlns="http://psi.hupo.org/ms/mzml" version="1.1.0">
<cvList count="1"><cv id="MS" fullName="PSI-MS" URI="http://purl.obolibrary.org/obo/ms/psi-ms.obo"/></cvList>
<run id="run1">
<spectrumList count="{count}">
"""
_MZML_TAIL = "</spectrumList>\n</run>\n</mzML>\n"


def _binary_array_lines(name: str, accession: str, values: list[float]) -> list[str]:
    encoded = base64.b64encode(np.asarray(values, dtype="<f8").tobytes()).decode("ascii")
    return [
        f'<binaryDataArray encodedLength="{len(encoded)}">\n',
        '<cvParam cvRef="MS" accession="MS:1000523" name="64-bit float" value=""/>\n',
        '<cvParam cvRef="MS" accession="MS:1000576" name="no compression" value=""/>\n',
        f'<cvParam cvRef="MS" accession="{accession}" name="{name}" value=""/>\n',
        f"<binary>{encoded}</binary>\n",
        "</binaryDataArray>\n",
    ]


def generate_mzml(rng: random.Random) -> Generated:
    records = [_spectrum_record(rng, index) for index in range(rng.randint(1, 5))]
    lines = _MZML_HEAD.format(count=len(records)).splitlines(keepends=True)
    spans, binary_lines = [], set()
    for index, record in enumerate(records):
        record["id"] = f"scan={index + 1}"
        record["adduct"] = None
        start = len(lines)
        scan = "MS:1000130" if record["ionmode"] == "positive" else "MS:1000129"
        lines += [
            f'<spectrum index="{index}" id="{record["id"]}" defaultArrayLength="{len(record["mz"])}">\n',
            '<cvParam cvRef="MS" accession="MS:1000511" name="ms level" value="2"/>\n',
            f'<cvParam cvRef="MS" accession="{scan}" name="{record["ionmode"]} scan" value=""/>\n',
            '<precursorList count="1"><precursor><selectedIonList count="1"><selectedIon>\n',
            '<cvParam cvRef="MS" accession="MS:1000744" name="selected ion m/z" '
            f'value="{record["precursor_mz"]!r}"/>\n',
            f'<cvParam cvRef="MS" accession="MS:1000041" name="charge state" value="{record["charge"]}"/>\n',
            "</selectedIon></selectedIonList></precursor></precursorList>\n",
            '<binaryDataArrayList count="2">\n',
        ]
        for name, accession, values in (
            ("m/z array", "MS:1000514", record["mz"]),
            ("intensity array", "MS:1000515", record["intensities"]),
        ):
            array_lines = _binary_array_lines(name, accession, values)
            binary_lines.add(len(lines) + 4)
            lines += array_lines
        lines += ["</binaryDataArrayList>\n", "</spectrum>\n"]
        spans.append((start, len(lines) - 1))
    lines += _MZML_TAIL.splitlines(keepends=True)
    shared = frozenset(range(spans[0][0]))  # the document head: damage there may end the whole document
    return Generated(".mzML", lines, spans, records, shared, frozenset(binary_lines))


def _structures(rng: random.Random, count: int) -> list[tuple[str, Chem.Mol, str]]:
    chosen = rng.sample(SMILES_POOL, count)
    return [(smiles, mol := Chem.MolFromSmiles(smiles), Chem.MolToInchiKey(mol)) for smiles in chosen]


def generate_sdf(rng: random.Random) -> Generated:
    lines: list[str] = []
    spans, expected = [], []
    for index, (_, mol, key) in enumerate(_structures(rng, rng.randint(1, 6))):
        mol = Chem.Mol(mol)
        mol.SetProp("_Name", f"m{index}" + rng.choice(("", "", " " + rng.choice(NAMES))))
        start = len(lines)
        lines += Chem.MolToMolBlock(mol).splitlines(keepends=True)
        lines += [">  <Identifier>\n", f"c{index}\n", "\n"]
        if rng.random() < 0.5:
            lines += [">  <InChIKey>\n", f"{key}\n", "\n"]
        lines.append("$$$$\n")
        spans.append((start, len(lines) - 1))
        expected.append({"id": f"c{index}", "inchikey": key, "spectrum_id": None})
    return Generated(".sdf", lines, spans, expected)


def generate_smiles(rng: random.Random) -> Generated:
    lines = ["SMILES name\n"] if rng.random() < 0.3 else []
    spans, expected = [], []
    for index, (smiles, _, key) in enumerate(_structures(rng, rng.randint(1, 8))):
        if rng.random() < 0.15:
            lines.append("# comment\n" if rng.random() < 0.5 else "\n")
        spans.append((len(lines), len(lines)))
        separator = rng.choice((" ", "\t"))
        lines.append(f"{smiles}{separator}c{index}\n")
        expected.append({"id": f"c{index}", "inchikey": key, "spectrum_id": None})
    return Generated(".smi", lines, spans, expected, gzip_ok=True)


def _generate_table(rng: random.Random, delimiter: str, suffix: str) -> Generated:
    layout = rng.choice(("minimal", "trusted", "per_spectrum"))
    columns = {
        "minimal": ["id", "smiles"],
        "trusted": ["Identifier", "SMILES", "Name", "InChIKey", "MolecularFormula", "MonoisotopicMass"],
        "per_spectrum": ["challenge", "Identifier", "SMILES", "InChIKey", "MolecularFormula", "MonoisotopicMass"],
    }[layout]
    lines = [delimiter.join(columns) + "\n"]
    spans, expected = [], []
    for index, (smiles, mol, key) in enumerate(_structures(rng, rng.randint(1, 8))):
        formula = Chem.rdMolDescriptors.CalcMolFormula(mol)
        mass = repr(Chem.Descriptors.ExactMolWt(mol))
        spectrum_id = f"q{index % 2}" if layout == "per_spectrum" else None
        values = {
            "id": f"c{index}",
            "Identifier": f"c{index}",
            "smiles": smiles,
            "SMILES": smiles,
            "Name": rng.choice(NAMES),
            "InChIKey": key,
            "MolecularFormula": formula,
            "MonoisotopicMass": mass,
            "challenge": spectrum_id,
        }
        spans.append((len(lines), len(lines)))
        lines.append(delimiter.join(str(values[column]) for column in columns) + "\n")
        expected.append({"id": f"c{index}", "inchikey": key, "spectrum_id": spectrum_id})
    return Generated(suffix, lines, spans, expected, shared_lines=frozenset({0}))


GENERATORS: dict[str, Callable[[random.Random], Generated]] = {
    "mgf": generate_mgf,
    "msp": generate_msp,
    "mzml": generate_mzml,
    "sdf": generate_sdf,
    "smiles": generate_smiles,
    "csv": lambda rng: _generate_table(rng, ",", ".csv"),
    "tsv": lambda rng: _generate_table(rng, "\t", ".tsv"),
}


# ---------------------------------------------------------------------------------------------------- mutations
@dataclass
class Damage:
    """What the mutations did, in the valid file's line numbers."""

    lines: set[int] = field(default_factory=set)
    removed_lines: set[int] = field(default_factory=set)  # lines deleted whole, or merged into the line before
    merges: int = 0  # mutations that destroyed a line or a line break: each may fuse two records into one
    format_removals: int = 0  # SMILES list lines turned into a comment, blank or header line: no record, by the format
    cut_at_line: int | None = None  # truncation: lines from here on are partly (this one) or wholly gone
    all_records: bool = False  # a change whose reach is unknown (a gzip stream cut short)
    whole_file_refusal_expected: bool = False  # unmarked UTF-16/32
    names: list[str] = field(default_factory=list)


class Mutator:
    """Applies random mutations to a valid file's bytes and records which lines they touched."""

    def __init__(self, generated: Generated, rng: random.Random) -> None:
        self.generated = generated
        self.rng = rng
        self.line_bytes = [line.encode("utf-8") for line in generated.lines]
        self.starts = np.cumsum([0] + [len(line) for line in self.line_bytes]).tolist()
        self.data = bytearray(b"".join(self.line_bytes))

    def line_of(self, offset: int) -> int | None:
        """The line holding byte ``offset`` of the valid file (None at the end of the file)."""
        if offset >= self.starts[-1]:
            return None
        return int(np.searchsorted(self.starts, offset, side="right")) - 1

    def mutate(self) -> tuple[bytes, Damage]:
        damage = Damage()
        n_mutations = self.rng.choice((1, 1, 1, 2, 3))
        # Applied from the end of the file backwards, each strictly before the previous one, so the offsets of
        # the valid file stay right for every mutation.
        limit = len(self.data)
        for _ in range(n_mutations):
            if limit <= 0:
                break
            name = self.rng.choice(MUTATIONS)
            applied = name(self, limit, damage)
            if applied is None:
                continue
            damage.names.append(applied[0])
            limit = applied[1]
        if self.generated.suffix == ".smi":
            # A record line that became '# ...', blank or a first 'SMILES' line is no record in a SMILES list: the
            # format cannot tell it from a comment or a header, so it is counted as removed, not lost.
            before = _non_record_lines("".join(self.generated.lines))
            after = _non_record_lines(bytes(self.data).decode("utf-8", errors="replace"))
            damage.format_removals = max(0, after - before)
        if self.rng.random() < 0.3:
            data = self.whole_file(bytes(self.data), damage)
        else:
            data = bytes(self.data)
        return data, damage

    # --- helpers
    def _replace(self, start: int, stop: int, new: bytes, damage: Damage) -> int:
        self.data[start:stop] = new
        first = self.line_of(start)
        last = self.line_of(max(start, stop - 1))
        if first is not None:
            damage.lines.update(range(first, (last if last is not None else len(self.line_bytes) - 1) + 1))
            if start == self.starts[first] and first > 0:
                damage.lines.add(first - 1)  # text inserted at a line start may belong to the record before
            lost_breaks = self.line_bytes_between(start, stop).count(b"\n") - new.count(b"\n")
            damage.merges += lost_breaks > 0
            if lost_breaks > 0 and self.generated.suffix in (".smi", ".csv", ".tsv"):
                # Lines merged: in one-line-per-record formats the lines after the first no longer exist as records
                # (a table reports the merged row; a SMILES list's name is the rest of the line).
                damage.removed_lines.update(range(first + 1, first + 1 + lost_breaks))
            # A change that removes, adds or touches a line break also changes the next line's start.
            touched = self.line_bytes[first][-1:] == b"\n" and stop >= self.starts[first + 1]
            if touched or b"\n" in new or b"\r" in new:
                damage.lines.add((last if last is not None else first) + 1)
        elif new:
            damage.lines.add(len(self.line_bytes))  # text appended after the last line
        if self.generated.damage_reaches_end and not self._inside_base64(start, stop, new):
            damage.lines.update(range(min(damage.lines), len(self.line_bytes) + 1))
        return start

    def line_bytes_between(self, start: int, stop: int) -> bytes:
        """The valid file's bytes ``[start, stop)``."""
        return b"".join(self.line_bytes)[start:stop]

    def _inside_base64(self, start: int, stop: int, new: bytes) -> bool:
        line = self.line_of(start)
        if line is None or line not in self.generated.base64_lines or self.line_of(max(start, stop - 1)) != line:
            return False
        text = self.line_bytes[line]
        open_end = self.starts[line] + text.index(b">") + 1
        close_start = self.starts[line] + text.rindex(b"</")
        return open_end <= start and stop <= close_start and not any(byte in b"<>&\"'\r\n" for byte in new)

    def _line_before(self, limit: int) -> int | None:
        last = self.line_of(limit - 1)
        if last is None:
            return None
        candidates = [line for line in range(last + 1) if self.starts[line + 1] <= limit]
        return self.rng.choice(candidates) if candidates else None

    def _number_in(self, line: int) -> tuple[int, int] | None:
        text = self.line_bytes[line]
        spans, start = [], None
        for position, byte in enumerate(text + b" "):
            numeric = chr(byte) in "0123456789.eE+-"
            if numeric and start is None:
                start = position
            elif not numeric and start is not None:
                if any(chr(b).isdigit() for b in text[start:position]):
                    spans.append((start, position))
                start = None
        if not spans:
            return None
        begin, end = self.rng.choice(spans)
        return self.starts[line] + begin, self.starts[line] + end

    # --- whole-file changes (no record damaged unless said)
    def whole_file(self, data: bytes, damage: Damage) -> bytes:
        choice = self.rng.choice(
            ("utf8_bom", "utf16", "utf16be", "utf32", "utf16_unmarked", "latin1", "crlf", "gzip", "gzip_cut")
        )
        if choice in ("gzip", "gzip_cut") and not self.generated.gzip_ok:
            choice = "crlf"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None  # undecodable bytes already: no re-encoding
        if text is None and choice in ("utf16", "utf16be", "utf32", "utf16_unmarked", "latin1"):
            choice = "crlf"
        damage.names.append(choice)
        if choice == "utf8_bom":
            return codecs.BOM_UTF8 + data
        if choice in ("utf16", "utf16be", "utf32", "utf16_unmarked", "latin1"):
            if choice == "utf16":
                return text.encode("utf-16")  # native order with a mark
            if choice == "utf16be":
                return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
            if choice == "utf32":
                return text.encode("utf-32")
            if choice == "utf16_unmarked":
                damage.whole_file_refusal_expected = True
                return text.encode("utf-16-le")
            # Latin-1: lines holding non-ASCII characters change (their bytes are not UTF-8).
            encoded = text.encode("latin-1", errors="replace")
            for line, raw in enumerate(self.generated.lines):
                if any(ord(ch) > 127 for ch in raw):
                    damage.lines.add(line)
            return encoded
        if choice == "crlf":
            return data.replace(b"\n", b"\r\n")
        compressed = gzip.compress(data, mtime=0)
        self.generated.suffix += ".gz"
        if choice == "gzip":
            return compressed
        damage.all_records = True
        return compressed[: self.rng.randint(10, max(11, len(compressed) - 1))]


def _non_record_lines(text: str) -> int:
    """Lines of a SMILES list that hold no record: blank, comments, and a first structure line 'SMILES ...'."""
    count, first = 0, True
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            count += 1
        elif first:
            first = False
            count += stripped.replace("\t", " ").split(" ")[0].lower() == "smiles"
    return count


def _bit_flip(mutator: Mutator, limit: int, damage: Damage) -> tuple[str, int]:
    position = mutator.rng.randrange(limit)
    flipped = mutator.data[position] ^ (1 << mutator.rng.randrange(8))
    return "bit flip", mutator._replace(position, position + 1, bytes([flipped]), damage)


def _truncate(mutator: Mutator, limit: int, damage: Damage) -> tuple[str, int]:
    position = mutator.rng.randrange(limit)
    if limit < len(mutator.data):
        return _bit_flip(mutator, limit, damage)  # only the last mutation may cut the file
    del mutator.data[position:]
    line = mutator.line_of(position)
    damage.cut_at_line = line
    if line is not None and mutator.starts[line] != position:
        damage.lines.add(line)
    if mutator.generated.damage_reaches_end and line is not None:
        damage.lines.update(range(line, len(mutator.line_bytes) + 1))
    return "truncate", position


def _binary_junk(mutator: Mutator, limit: int, damage: Damage) -> tuple[str, int]:
    position = mutator.rng.randrange(limit)
    length = mutator.rng.randint(1, 24)
    junk = bytes(mutator.rng.randrange(256) for _ in range(length))
    stop = min(limit, position + mutator.rng.choice((0, length)))
    return "binary junk", mutator._replace(position, stop, junk, damage)


def _delete_line(mutator: Mutator, limit: int, damage: Damage) -> tuple[str, int] | None:
    line = mutator._line_before(limit)
    if line is None:
        return None
    damage.removed_lines.add(line)
    damage.merges += 1
    return "delete line", mutator._replace(mutator.starts[line], mutator.starts[line + 1], b"", damage)


def _duplicate_line(mutator: Mutator, limit: int, damage: Damage) -> tuple[str, int] | None:
    line = mutator._line_before(limit)
    if line is None:
        return None
    start = mutator.starts[line]
    return "duplicate line", mutator._replace(start, start, mutator.line_bytes[line], damage)


def _swap_lines(mutator: Mutator, limit: int, damage: Damage) -> tuple[str, int] | None:
    line = mutator._line_before(limit)
    if line is None or line == 0 or mutator.starts[line + 1] > limit:
        return None
    first, second = mutator.line_bytes[line - 1], mutator.line_bytes[line]
    return "swap lines", mutator._replace(mutator.starts[line - 1], mutator.starts[line + 1], second + first, damage)


def _junk_line(mutator: Mutator, limit: int, damage: Damage) -> tuple[str, int] | None:
    line = mutator._line_before(limit)
    if line is None:
        return None
    junk = mutator.rng.choice(JUNK_LINES + ("".join(chr(mutator.rng.randrange(32, 0x2FF)) for _ in range(12)),))
    start = mutator.starts[line]
    if mutator.rng.random() < 0.5:  # insert before the line
        return "insert junk line", mutator._replace(start, start, (junk + "\n").encode("utf-8"), damage)
    stop = mutator.starts[line + 1] - 1
    damage.merges += 1
    if not junk.strip() or (junk.startswith("#") and mutator.generated.suffix == ".smi"):
        damage.removed_lines.add(line)  # a blank line or a comment: the record on it no longer exists
    return "replace line with junk", mutator._replace(start, stop, junk.encode("utf-8"), damage)


def _stray_quote(mutator: Mutator, limit: int, damage: Damage) -> tuple[str, int]:
    position = mutator.rng.randrange(limit)
    while position > 0 and mutator.data[position - 1] & 0xC0 == 0x80:
        position -= 1  # not inside a UTF-8 character
    quote = mutator.rng.choice((b'"', b"'", b'""', b'"x"'))
    return "stray quote", mutator._replace(position, position, quote, damage)


def _merge_lines(mutator: Mutator, limit: int, damage: Damage) -> tuple[str, int] | None:
    line = mutator._line_before(limit)
    if line is None:
        return None
    end = mutator.starts[line + 1]
    return "merge lines", mutator._replace(end - 1, end, mutator.rng.choice((b"", b" ", b",", b"\t")), damage)


def _bad_number(mutator: Mutator, limit: int, damage: Damage) -> tuple[str, int] | None:
    for _ in range(5):
        line = mutator._line_before(limit)
        if line is None:
            return None
        span = mutator._number_in(line)
        if span is not None:
            value = mutator.rng.choice(BAD_VALUES).encode("utf-8")
            return "bad number", mutator._replace(span[0], span[1], value, damage)
    return None


def _bad_value(mutator: Mutator, limit: int, damage: Damage) -> tuple[str, int] | None:
    """The value of a ``KEY=VALUE`` / ``Key: value`` line (CHARGE=abc, PEPMASS=NA, IONMODE=?) made bad."""
    for _ in range(5):
        line = mutator._line_before(limit)
        if line is None:
            return None
        text = mutator.line_bytes[line]
        for separator in (b"=", b": "):
            if separator in text and not text.startswith(b"<"):
                start = mutator.starts[line] + text.index(separator) + len(separator)
                value = mutator.rng.choice(BAD_VALUES).encode("utf-8")
                return "bad value", mutator._replace(start, mutator.starts[line + 1] - 1, value, damage)
    return None


MUTATIONS = (
    _bit_flip, _bit_flip, _truncate, _binary_junk, _delete_line, _delete_line, _duplicate_line, _swap_lines,
    _junk_line, _junk_line, _stray_quote, _merge_lines, _bad_number, _bad_number, _bad_value, _bad_value,
)  # fmt: skip


# ---------------------------------------------------------------------------------------------------- reading
@dataclass
class Read:
    """What specvae made of a file: the records read (identity -> content) and the errors."""

    records: list[dict]
    errors: list
    refused: str | None = None  # an InputFileError: the file refused as a whole


def read_spectra_file(path: Path) -> Read:
    errors, records = [], []
    for record in iter_clean_records(path):
        if record.spectrum is None:
            errors.append(record.to_record_error())
            continue
        spectrum = record.spectrum
        metadata = spectrum.metadata
        identity = metadata.get("title") or metadata.get("compound_name") or metadata.get("spectrum_id")
        records.append(
            {
                "id": identity,
                "precursor_mz": metadata.get("precursor_mz"),
                "ionmode": metadata.get("ionmode"),
                "charge": metadata.get("charge"),
                "adduct": metadata.get("adduct"),
                "mz": spectrum.peaks.mz,
                "intensities": spectrum.peaks.intensities,
            }
        )
    return Read(records, errors)


def read_candidate_file(path: Path) -> Read:
    report = ErrorReport()
    entries = read_candidates(path, report)
    candidate_set = CandidateSet.from_entries(entries)  # annotate builds this; mixed lists raise here
    rejected = {id(entry) for entry, _ in candidate_set.rejected}
    for entry, reason in candidate_set.rejected:
        report.add(str(path), entry.record, reason, entry.candidate.name)
    kept = [entry for entry in entries if id(entry) not in rejected]
    # The fingerprint step of annotate: every structure checked against its (stated or computed) InChIKey.
    structures, usable = [], []
    for entry in kept:
        try:
            structures.append(entry.candidate.smiles or entry.candidate.molecule())
            usable.append(entry)
        except SpecvaeError as error:
            report.add(str(path), entry.record, str(error), entry.candidate.name)
    result = compute_fingerprints(
        structures, FINGERPRINT, expected_inchikeys=[entry.candidate.inchikey for entry in usable]
    )
    failed = {problem.index: problem.reason for problem in result.errors}
    records = []
    for index, entry in enumerate(usable):
        if index in failed:
            report.add(str(path), entry.record, failed[index], entry.candidate.name)
            continue
        candidate = entry.candidate
        records.append({"id": candidate.identifier, "inchikey": candidate.inchikey, "spectrum_id": entry.spectrum_id})
    return Read(records, list(report))


READERS = {fmt: read_spectra_file for fmt in ("mgf", "msp", "mzml")} | {
    fmt: read_candidate_file for fmt in ("sdf", "smiles", "csv", "tsv")
}


# ---------------------------------------------------------------------------------------------------- verdict
def same_record(expected: dict, read: dict) -> bool:
    """Whether a record read equals what was written (spectra after specvae's cleaning: normalised intensities)."""
    if "mz" not in expected:
        return expected == read
    if read["precursor_mz"] != expected["precursor_mz"] or read["ionmode"] != expected["ionmode"]:
        return False
    if expected["charge"] is not None and read["charge"] != expected["charge"]:
        return False
    if read["adduct"] != expected["adduct"]:
        return False
    mz, intensities = np.asarray(expected["mz"]), np.asarray(expected["intensities"])
    kept = mz <= expected["precursor_mz"] + 0.5
    mz, intensities = mz[kept], intensities[kept]
    return bool(
        np.array_equal(read["mz"], mz)
        and read["intensities"].shape == intensities.shape
        and np.allclose(read["intensities"], intensities / intensities.max(), rtol=1e-6, atol=0)
    )


def verdict(generated: Generated, damage: Damage, read: Read, path: Path) -> tuple[str, str]:
    """The outcome and, for a failure, why."""
    unclear = [error for error in read.errors if error.file != str(path) or error.record in (None, "")]
    if unclear:
        return "crash", f"error without file or record: {unclear[0]}"
    if read.refused is not None:
        if str(path) not in read.refused:
            return "crash", f"file refused without naming it: {read.refused}"
        return "clear error", ""
    n_lines = len(generated.lines)
    damaged, present = [], []
    for index, (first, last) in enumerate(generated.spans):
        lines = set(range(first, last + 1)) | generated.shared_lines
        cut = damage.cut_at_line if damage.cut_at_line is not None else n_lines + 1
        if first >= cut or set(range(first, last + 1)) <= damage.removed_lines:
            continue  # truncated away or deleted whole: the file no longer holds it
        present.append(index)
        if damage.all_records or lines & damage.lines or last >= cut:
            damaged.append(index)
    by_id: dict[str, list[dict]] = {}
    for record in read.records:
        by_id.setdefault(str(record["id"]), []).append(record)
    used: set[int] = set()  # reads matched to a generated record (each read stands for one record)
    lost_damaged = 0
    for index in sorted(present, key=lambda index: index in damaged):  # untouched records claim their reads first
        expected = generated.expected[index]
        candidates = [record for record in by_id.get(str(expected["id"]), []) if id(record) not in used]
        if index not in damaged:
            same = [record for record in candidates if same_record(expected, record)]
            if not same:
                what = "altered" if candidates else "missing"
                return "silent", f"untouched record {index + 1} ({expected['id']}) {what}"
            used.add(id(same[0]))
        elif candidates:
            used.add(id(candidates[0]))
        else:
            lost_damaged += 1
    extras = len(read.records) - len(used)  # reads of damaged records whose identity changed
    file_level = any(not isinstance(error.record, int) and "line" not in str(error.record) for error in read.errors)
    lost_damaged = max(0, lost_damaged - damage.format_removals)
    if lost_damaged and not read.errors and not extras:
        return "silent", f"{lost_damaged} damaged record(s) lost without an error"
    # One error may stand for the rest of a file that cannot be read on (a gzip stream cut short).
    if lost_damaged > len(read.errors) + extras + damage.merges and not file_level and not damage.all_records:
        return "silent", f"{lost_damaged} damaged records lost, {len(read.errors)} errors, {extras} unrecognised reads"
    return ("clear error" if read.errors else "clean"), ""


# ---------------------------------------------------------------------------------------------------- caches
CACHE_SMILES = SMILES_POOL[:8]


def run_cache_one(rng: random.Random, directory: Path) -> tuple[str, str, Generated, bytes, Damage]:
    """A fingerprint cache (HDF5) with bit flips, truncation, binary junk, or two rows' keys or bits swapped, looked
    up as annotate looks it up: the bits must be the true ones, or the cache refused with an error naming it."""
    truth, keys, base = _cache_truth(directory.parent)
    data = bytearray(base)
    damage = Damage()
    path = directory / "fuzz.h5"
    kind = rng.choice(("bit flip", "bit flip", "truncate", "binary junk", "swap keys", "swap bits"))
    damage.names.append(kind)
    if kind == "bit flip":
        for _ in range(rng.choice((1, 1, 2, 8))):
            position = rng.randrange(len(data))
            data[position] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del data[rng.randrange(len(data)) :]
    elif kind == "binary junk":
        position = rng.randrange(len(data))
        data[position : position + rng.randint(1, 64)] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    path.write_bytes(bytes(data))
    if kind.startswith("swap"):
        import h5py

        with h5py.File(path, "r+") as handle:
            dataset = handle["inchikeys" if kind == "swap keys" else "bits"]
            first, second = rng.sample(range(len(keys)), 2)
            rows = dataset[first], dataset[second]
            dataset[first], dataset[second] = rows[1], rows[0]
        seal_cache_file(path)  # a valid file with wrong rows: what the row checksums are for
        data = bytearray(path.read_bytes())
    generated = Generated(".h5", [], [], [])
    result = _lookup_with_time_limit(path, keys)
    if result[0] == "hang":
        return "crash", f"hang: the lookup did not return in {CACHE_TIME_LIMIT_S} s", generated, bytes(data), damage
    if result[0] == "cache error":
        if str(path) not in result[1]:
            return "crash", f"cache error without the file's name: {result[1]}", generated, bytes(data), damage
        return "clear error", "", generated, bytes(data), damage
    if result[0] == "crash":
        return "crash", result[1], generated, bytes(data), damage
    found = result[1]
    wrong = [
        index
        for index in range(len(keys))
        if found.valid[index] and not np.array_equal(found.fingerprints[index], truth[index])
    ]
    if wrong:
        return "silent", f"rows {wrong} read with other bits", generated, bytes(data), damage
    if not found.valid.all():
        return "clear error", "", generated, bytes(data), damage
    return "clean", "", generated, bytes(data), damage


_CACHE_TRUTH: dict[str, tuple[np.ndarray, list[str], bytes]] = {}
CACHE_TIME_LIMIT_S = 30
_CACHE_WORKER: list = []  # one worker process, replaced when a lookup hangs


def _lookup_in_worker(path: str, keys: list[str]) -> tuple:
    try:
        return ("ok", FingerprintCache(path, FINGERPRINT).lookup(keys, list(CACHE_SMILES)))
    except FingerprintCacheError as error:
        return ("cache error", str(error))
    except Exception:  # noqa: BLE001 - what the campaign looks for
        return ("crash", traceback.format_exc(limit=-3))


def _lookup_with_time_limit(path: Path, keys: list[str]) -> tuple:
    """The lookup in a worker process: libhdf5 can loop forever on a damaged file (found by this campaign), and
    C code cannot be interrupted, so a lookup that does not return in time is a hang and its worker is replaced."""
    import multiprocessing

    if not _CACHE_WORKER:
        _CACHE_WORKER.append(multiprocessing.get_context("fork").Pool(1))
    try:
        return _CACHE_WORKER[0].apply_async(_lookup_in_worker, (str(path), keys)).get(CACHE_TIME_LIMIT_S)
    except multiprocessing.TimeoutError:
        _CACHE_WORKER.pop().terminate()
        return ("hang",)


def _cache_truth(directory: Path) -> tuple[np.ndarray, list[str], bytes]:
    """The true bits of the cache's structures, their keys, and a valid cache file's bytes (built once)."""
    if "base" not in _CACHE_TRUTH:
        keys = [Chem.MolToInchiKey(Chem.MolFromSmiles(smiles)) for smiles in CACHE_SMILES]
        path = directory / "base-cache.h5"
        path.unlink(missing_ok=True)
        found = FingerprintCache(path, FINGERPRINT).lookup(keys, list(CACHE_SMILES))
        assert found.valid.all()
        _CACHE_TRUTH["base"] = (found.fingerprints.copy(), keys, path.read_bytes())
    return _CACHE_TRUTH["base"]


# ---------------------------------------------------------------------------------------------------- campaign
def run_one(fmt: str, rng: random.Random, directory: Path) -> tuple[str, str, Generated, bytes, Damage]:
    if fmt == "cache":
        return run_cache_one(rng, directory)
    generated = GENERATORS[fmt](rng)
    mutator = Mutator(generated, rng)
    data, damage = mutator.mutate()
    path = directory / f"fuzz{generated.suffix}"
    path.write_bytes(data)
    try:
        read = READERS[fmt](path)
    except SpecvaeError as error:  # InputFileError: refused as a whole
        read = Read([], [], refused=str(error))
    except Exception:  # noqa: BLE001 - what the campaign looks for
        return "crash", traceback.format_exc(limit=-3), generated, data, damage
    outcome, why = verdict(generated, damage, read, path)
    return outcome, why, generated, data, damage


def run_format(fmt: str, count: int, seed: int, failures: Path | None, progress: bool) -> tuple[Counter, list[str]]:
    counts: Counter = Counter()
    examples: list[str] = []
    rng = random.Random(f"{seed}:{fmt}")
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{fmt}-") as temporary:
        directory = Path(temporary) / "files"
        directory.mkdir()
        bar = tqdm(range(count), desc=f"{fmt:6}", disable=not progress, mininterval=2.0)
        for number in bar:
            outcome, why, generated, data, damage = run_one(fmt, rng, directory)
            counts[outcome] += 1
            for name in damage.names:
                counts[f"mutation:{name}"] += 1
            if outcome in ("crash", "silent"):
                summary = f"{fmt} #{number}: {outcome}: {' + '.join(damage.names)}: {why.strip().splitlines()[-1]}"
                examples.append(summary)
                if failures is not None:
                    failures.mkdir(parents=True, exist_ok=True)
                    stem = f"{fmt}-{number:05d}-{outcome}"
                    (failures / f"{stem}{generated.suffix}").write_bytes(data)
                    (failures / f"{stem}.txt").write_text(f"{summary}\n\n{why}\n", encoding="utf-8")
            bar.set_postfix({name: counts[name] for name in OUTCOMES}, refresh=False)
            for leftover in directory.iterdir():
                leftover.unlink()
    return counts, examples


def report_markdown(results: dict[str, Counter], seconds: dict[str, float], command: str, examples: list[str]) -> str:
    lines = [
        "# Fuzz campaign",
        "",
        f"Command: `{command}`",
        "",
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; one process.",
        "",
        "| format | files | clean | clear error | crash | silent | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for fmt, counts in results.items():
        total = sum(counts[name] for name in OUTCOMES)
        cells = " | ".join(str(counts[name]) for name in OUTCOMES)
        lines.append(f"| {fmt} | {total} | {cells} | {seconds[fmt]:.0f} |")
    mutations = Counter()
    for counts in results.values():
        mutations.update({key.split(":", 1)[1]: value for key, value in counts.items() if key.startswith("mutation:")})
    lines += ["", "Mutations applied (all formats): " + ", ".join(f"{k} {v}" for k, v in sorted(mutations.items()))]
    if examples:
        lines += ["", "Failures (first 40):", ""] + [f"- {example}" for example in examples[:40]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-format", type=int, default=500, help="files generated per format")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--failures", type=Path, default=None, help="folder for crashing and silent files")
    parser.add_argument("-o", "--output", type=Path, default=None, help="write the markdown report here")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.failures is not None and args.failures.exists():
        shutil.rmtree(args.failures)
    results, seconds, examples = {}, {}, []
    for fmt in args.formats:
        started = time.perf_counter()
        results[fmt], found = run_format(fmt, args.per_format, args.seed, args.failures, not args.no_progress)
        seconds[fmt] = time.perf_counter() - started
        examples += found
    command = "python benchmarks/fuzz_campaign.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = report_markdown(results, seconds, command, examples)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    failed = sum(counts["crash"] + counts["silent"] for counts in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
