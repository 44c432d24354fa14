"""FingerprintCache: computes each InChIKey once, refuses other definitions, survives interrupted writes, and refuses a
damaged file before libhdf5 reads a byte of it."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from specvae.fingerprints import cache as cache_module
from specvae.fingerprints.cache import (
    FingerprintCache,
    FingerprintCacheError,
    FingerprintCacheMismatchError,
    InvalidStructuresError,
)
from specvae.fingerprints.compute import compute_fingerprints
from specvae.fingerprints.definition import FingerprintDefinition

# A small definition keeps the tests fast; the cache does not care about the layout.
DEFINITION = FingerprintDefinition(
    components=("maccs", "morgan", "smarts_fg"),
    morgan_n_bits=64,
    smarts_keys=(("carboxylic acid", "[CX3](=O)[OX2H1,OX1-]"), ("ester", "[#6][CX3](=O)[OX2H0][#6]")),
)
STRUCTURES = {
    "BSYNRYMUTXBXSQ-UHFFFAOYSA-N": "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "LFQSCWFLJHTTHZ-UHFFFAOYSA-N": "CCO",  # ethanol
    "DHMQDGOQFOQNFH-UHFFFAOYSA-N": "NCC(=O)O",  # glycine
    "ISWSIDIOOBJBQZ-UHFFFAOYSA-N": "Oc1ccccc1",  # phenol
    "JUJWROOIHBZHMG-UHFFFAOYSA-N": "c1ccncc1",  # pyridine
}
KEYS = list(STRUCTURES)
SMILES = list(STRUCTURES.values())
BAD_KEY = "AAAAAAAAAAAAAA-BBBBBBBBBB-C"
REPOSITORY = Path(__file__).resolve().parents[3]
DATA = REPOSITORY / "tests" / "data"


@pytest.fixture
def computed_molecules(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every structure the cache sends to compute_fingerprints, in order."""
    seen: list[str] = []

    def counting_compute(structures, definition, n_workers=1, **options):
        seen.extend(structures)
        return compute_fingerprints(structures, definition, n_workers, **options)

    monkeypatch.setattr(cache_module, "compute_fingerprints", counting_compute)
    return seen


def test_second_run_computes_nothing(tmp_path: Path, computed_molecules: list[str]) -> None:
    path = tmp_path / "fp.h5"
    expected, _ = compute_fingerprints(SMILES, DEFINITION)

    first = FingerprintCache(path, DEFINITION).get_or_compute(KEYS, SMILES)
    np.testing.assert_array_equal(first, expected)
    assert computed_molecules == SMILES

    # a new cache object reads the file: nothing is computed, the bits are the same
    reopened = FingerprintCache(path, DEFINITION)
    found = reopened.lookup(KEYS[::-1], SMILES[::-1])
    assert found.n_computed == 0 and found.errors == [] and found.valid.all()
    np.testing.assert_array_equal(found.fingerprints, expected[::-1])
    assert len(computed_molecules) == 5
    assert len(reopened) == 5 and KEYS[0] in reopened


def test_only_missing_keys_are_computed_once_each(tmp_path: Path, computed_molecules: list[str]) -> None:
    cache = FingerprintCache(tmp_path / "fp.h5", DEFINITION)
    cache.get_or_compute(KEYS[:2], SMILES[:2])
    keys = [KEYS[3], KEYS[0], KEYS[3], KEYS[4], KEYS[1]]
    smiles = [STRUCTURES[key] for key in keys]
    found = cache.lookup(keys, smiles)
    assert found.n_computed == 2
    assert computed_molecules == SMILES[:2] + [SMILES[3], SMILES[4]]
    expected, _ = compute_fingerprints(smiles, DEFINITION)
    np.testing.assert_array_equal(found.fingerprints, expected)


def test_storage_is_bit_packed_with_the_definition(tmp_path: Path) -> None:
    path = tmp_path / "fp.h5"
    FingerprintCache(path, DEFINITION).get_or_compute(KEYS, SMILES)
    with h5py.File(path, "r") as handle:
        assert handle["bits"].dtype == np.uint8
        assert handle["bits"].shape == (5, (DEFINITION.n_bits + 7) // 8)
        assert FingerprintDefinition.from_json(handle.attrs["definition"]) == DEFINITION
        assert [key.decode() for key in handle["inchikeys"][:]] == KEYS


def test_invalid_structures_are_reported_and_remembered(tmp_path: Path, computed_molecules: list[str]) -> None:
    path = tmp_path / "fp.h5"
    keys, smiles = [KEYS[0], BAD_KEY, KEYS[1]], [SMILES[0], "C1CC", SMILES[1]]
    found = FingerprintCache(path, DEFINITION).lookup(keys, smiles)
    np.testing.assert_array_equal(found.valid, [True, False, True])
    assert [error.index for error in found.errors] == [1]
    assert "could not be parsed" in found.errors[0].reason
    assert not found.fingerprints[1].any()

    reopened = FingerprintCache(path, DEFINITION)
    again = reopened.lookup(keys, smiles)
    assert again.n_computed == 0 and again.errors == found.errors
    assert len(computed_molecules) == 3
    with pytest.raises(InvalidStructuresError, match="1 structures could not be fingerprinted: #1") as raised:
        reopened.get_or_compute(keys, smiles)
    assert raised.value.errors == found.errors


def test_another_definition_is_refused_but_another_mask_is_not(tmp_path: Path) -> None:
    path = tmp_path / "fp.h5"
    FingerprintCache(path, DEFINITION).get_or_compute(KEYS[:1], SMILES[:1])
    with pytest.raises(FingerprintCacheMismatchError, match=r"differs in \['morgan_n_bits'\]"):
        FingerprintCache(path, dataclasses.replace(DEFINITION, morgan_n_bits=128))
    masked = FingerprintCache(path, DEFINITION.with_kept_bits([1, 2, 3]))
    found = masked.lookup(KEYS[:1], SMILES[:1])
    assert found.n_computed == 0
    assert found.fingerprints.shape == (1, DEFINITION.n_bits)  # full fingerprints: select_kept picks a model's bits


def test_a_file_that_is_not_a_cache_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as handle:
        handle["x"] = np.arange(3)
    with pytest.raises(FingerprintCacheError, match="not a specvae fingerprint cache"):
        FingerprintCache(path, DEFINITION)
    text_file = tmp_path / "notes.h5"
    text_file.write_text("hello")
    with pytest.raises(FingerprintCacheError, match="not a readable fingerprint cache"):
        FingerprintCache(text_file, DEFINITION)


def test_interrupted_write_leaves_the_old_cache_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "fp.h5"
    FingerprintCache(path, DEFINITION).get_or_compute(KEYS[:2], SMILES[:2])
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    real_append_rows = cache_module._append_rows

    def append_then_die(*arguments):
        real_append_rows(*arguments)  # the temporary copy is half-updated ...
        raise KeyboardInterrupt  # ... when the user presses Ctrl-C

    monkeypatch.setattr(cache_module, "_append_rows", append_then_die)
    with pytest.raises(KeyboardInterrupt):
        FingerprintCache(path, DEFINITION).get_or_compute(KEYS, SMILES)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fp.h5"]  # no temporary file left behind
    monkeypatch.setattr(cache_module, "_append_rows", real_append_rows)
    found = FingerprintCache(path, DEFINITION).lookup(KEYS, SMILES)
    assert found.n_computed == 3
    np.testing.assert_array_equal(found.fingerprints, compute_fingerprints(SMILES, DEFINITION).fingerprints)


def test_two_cache_objects_on_one_file_see_each_others_entries(tmp_path: Path) -> None:
    path = tmp_path / "fp.h5"
    first, second = FingerprintCache(path, DEFINITION), FingerprintCache(path, DEFINITION)
    first.get_or_compute(KEYS[:2], SMILES[:2])
    second.get_or_compute(KEYS[2:], SMILES[2:])  # writes after `first` did: must not lose or misnumber rows
    assert first.lookup(KEYS, SMILES).n_computed == 0
    found = second.lookup(KEYS, SMILES)
    assert found.n_computed == 0
    np.testing.assert_array_equal(found.fingerprints, compute_fingerprints(SMILES, DEFINITION).fingerprints)


def test_a_write_by_another_process_during_computation_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "fp.h5"
    mine, theirs = FingerprintCache(path, DEFINITION), FingerprintCache(path, DEFINITION)
    mine.get_or_compute(KEYS[:1], SMILES[:1])

    def compute_while_another_process_writes(structures, definition, n_workers=1, **options):
        monkeypatch.setattr(cache_module, "compute_fingerprints", compute_fingerprints)
        theirs.get_or_compute(KEYS[3:], SMILES[3:])  # lands on disk after `mine` read the index
        return compute_fingerprints(structures, definition, n_workers, **options)

    monkeypatch.setattr(cache_module, "compute_fingerprints", compute_while_another_process_writes)
    found = mine.lookup(KEYS[:3], SMILES[:3])
    np.testing.assert_array_equal(found.fingerprints, compute_fingerprints(SMILES[:3], DEFINITION).fingerprints)
    everything = FingerprintCache(path, DEFINITION).lookup(KEYS, SMILES)
    assert everything.n_computed == 0
    np.testing.assert_array_equal(everything.fingerprints, compute_fingerprints(SMILES, DEFINITION).fingerprints)
    assert mine.lookup(KEYS, SMILES).n_computed == 0


@pytest.mark.parametrize(("replacement_order", "recomputed"), [([4, 3, 2, 1, 0], 0), ([4, 3, 2, 1], 1)])
def test_rows_moved_by_an_unnoticed_replacement_are_not_misread(
    tmp_path: Path, replacement_order: list[int], recomputed: int
) -> None:
    path = tmp_path / "fp.h5"
    cache = FingerprintCache(path, DEFINITION)
    cache.get_or_compute(KEYS, SMILES)
    # Another process replaces the file with one holding the structures in another order (or one fewer), in a way
    # the modification-time check misses (coarse timestamps): the row numbers the cache remembers are now wrong.
    other = tmp_path / "other.h5"
    FingerprintCache(other, DEFINITION).get_or_compute(
        [KEYS[i] for i in replacement_order], [SMILES[i] for i in replacement_order]
    )
    other.replace(path)
    cache._file_signature = cache_module._signature(path)
    found = cache.lookup(KEYS, SMILES)
    np.testing.assert_array_equal(found.fingerprints, compute_fingerprints(SMILES, DEFINITION).fingerprints)
    assert found.n_computed == recomputed  # a structure the replacement lost is computed again


def test_keys_are_checked(tmp_path: Path) -> None:
    cache = FingerprintCache(tmp_path / "fp.h5", DEFINITION)
    with pytest.raises(ValueError, match="#1: 'aspirin' is not a standard InChIKey"):
        cache.lookup([KEYS[0], "aspirin"], SMILES[:2])
    with pytest.raises(ValueError, match="2 InChIKeys but 1 structures"):
        cache.lookup(KEYS[:2], SMILES[:1])


# ----------------------------------------------------------------------------- integrity
def _warm_cache(tmp_path: Path) -> Path:
    path = tmp_path / "fp.h5"
    FingerprintCache(path, DEFINITION).get_or_compute(KEYS, SMILES)
    return path


def _edit_and_reseal(path: Path, edit) -> None:
    """Change a cache through HDF5 and seal it again: the file-level sha256 then passes, so what is tested is the
    check behind it (a cache written wrong, rather than damaged after it was written)."""
    with h5py.File(path, "r+") as handle:
        edit(handle)
    cache_module.seal_cache_file(path)


def _swap_first_two_keys(handle: h5py.File) -> None:
    """Swap what identifies rows 0 and 1 (InChIKey and structure digest), so each names the other's bits."""
    for name in ("inchikeys", "structure_digests"):
        values = handle[name][:]
        values[[0, 1]] = values[[1, 0]]
        handle[name][:] = values


def test_swapped_keys_are_caught_naming_the_cache(tmp_path: Path) -> None:
    path = _warm_cache(tmp_path)
    _edit_and_reseal(path, _swap_first_two_keys)
    with pytest.raises(FingerprintCacheError, match=r"fp\.h5: damaged fingerprint cache: row \d \(InChIKey .*checksum"):
        FingerprintCache(path, DEFINITION).lookup(KEYS, SMILES)


def test_keys_swapped_without_their_digests_are_never_read(tmp_path: Path) -> None:
    """A row is found by its key and its structure's digest: with only the keys swapped, no request names those
    rows (a request stating the swapped key with the row's own text would read it, and fail its checksum), so the
    structures are computed again instead of being read with another structure's bits."""
    path = _warm_cache(tmp_path)

    def swap_keys_only(handle: h5py.File) -> None:
        keys = handle["inchikeys"][:]
        keys[[0, 1]] = keys[[1, 0]]
        handle["inchikeys"][:] = keys

    _edit_and_reseal(path, swap_keys_only)
    found = FingerprintCache(path, DEFINITION).lookup(KEYS, SMILES)
    np.testing.assert_array_equal(found.fingerprints, compute_fingerprints(SMILES, DEFINITION).fingerprints)
    assert found.n_computed == 2
    with pytest.raises(FingerprintCacheError, match="does not match its checksum"):
        FingerprintCache(path, DEFINITION).lookup([KEYS[1]], [SMILES[0]])


def test_an_altered_bit_is_caught(tmp_path: Path) -> None:
    path = _warm_cache(tmp_path)
    _edit_and_reseal(path, lambda handle: handle["bits"].__setitem__((2, 3), handle["bits"][2, 3] ^ 0x04))
    with pytest.raises(FingerprintCacheError, match="row 2 .* does not match its checksum"):
        FingerprintCache(path, DEFINITION).lookup(KEYS[2:3], SMILES[2:3])


@pytest.mark.parametrize(
    "damage",
    [
        lambda handle: handle["inchikeys"].__setitem__(0, b"\xb3" * 27),  # "'ascii' codec can't decode byte 0xb3"
        lambda handle: handle.attrs.__setitem__("definition", "{not json"),
        lambda handle: handle.attrs.__setitem__("format_version", 1),
        lambda handle: handle.__delitem__("row_checksums"),
        lambda handle: handle["structure_digests"].resize(2, axis=0),
    ],
)
def test_every_damage_is_one_error_type_naming_the_cache(tmp_path: Path, damage) -> None:
    path = _warm_cache(tmp_path)
    _edit_and_reseal(path, damage)
    with pytest.raises(FingerprintCacheError, match=r"fp\.h5: "):
        FingerprintCache(path, DEFINITION).lookup(KEYS, SMILES)


def test_rebuild_moves_a_damaged_cache_aside_and_says_so(tmp_path: Path) -> None:
    path = _warm_cache(tmp_path)
    _edit_and_reseal(path, lambda handle: handle["bits"].__setitem__((0, 0), handle["bits"][0, 0] ^ 0x01))
    cache = FingerprintCache(path, DEFINITION, rebuild_damaged=True)  # found by the row checksum, at lookup
    with pytest.warns(
        cache_module.CacheRebuiltWarning, match=r"fp\.h5: damaged .* moved it aside to .*fp\.h5\.corrupt-"
    ):
        found = cache.lookup(KEYS, SMILES)
    assert found.n_computed == len(KEYS)
    np.testing.assert_array_equal(found.fingerprints, compute_fingerprints(SMILES, DEFINITION).fingerprints)
    assert [p.name.startswith("fp.h5.corrupt-") for p in cache.moved_aside] == [True]
    assert FingerprintCache(path, DEFINITION).lookup(KEYS, SMILES).n_computed == 0


def test_a_wrong_inchikey_does_not_inherit_the_cached_structure(tmp_path: Path) -> None:
    """Warm cache holds aspirin; a row states aspirin's key for ethanol: reported with both keys, not served."""
    path = _warm_cache(tmp_path)
    found = FingerprintCache(path, DEFINITION).lookup([KEYS[0], KEYS[0]], [SMILES[0], "CCO"])
    assert found.valid.tolist() == [True, False]
    assert not found.fingerprints[1].any()
    (error,) = found.errors
    assert error.index == 1 and error.computed_inchikey == KEYS[1]
    assert KEYS[0] in error.reason and KEYS[1] in error.reason


def test_a_wrong_inchikey_on_a_cold_cache_is_not_stored(tmp_path: Path) -> None:
    path = tmp_path / "fp.h5"
    cache = FingerprintCache(path, DEFINITION)
    found = cache.lookup([KEYS[0]], ["CCO"])  # ethanol under aspirin's key
    assert not found.valid[0] and found.errors[0].computed_inchikey == KEYS[1]
    assert KEYS[0] not in cache
    assert cache.lookup([KEYS[0]], [SMILES[0]]).valid.tolist() == [True]  # the true structure is computed
    # Another text of the same structure is checked (parsed) and accepted.
    assert cache.lookup([KEYS[0]], ["OC(=O)c1ccccc1OC(C)=O"]).valid.tolist() == [True]


# ------------------------------------------------- the sealed header: no damaged byte reaches libhdf5
@pytest.fixture
def hdf5_opens(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every ``h5py.File(...)`` made while the test runs (its first argument)."""
    opened: list[object] = []
    real_file = h5py.File

    def recording_file(name, *arguments, **options):
        opened.append(name)
        return real_file(name, *arguments, **options)

    monkeypatch.setattr(h5py, "File", recording_file)
    return opened


def test_a_valid_cache_has_a_sealed_header_and_round_trips(tmp_path: Path) -> None:
    path = _warm_cache(tmp_path)
    data = path.read_bytes()
    header = data[: cache_module.HEADER_SIZE]
    digest = hashlib.sha256(data[cache_module.HEADER_SIZE :]).hexdigest()
    assert header == f"specvae fingerprint cache\nformat_version 3\nsha256 {digest}\n".encode().ljust(512, b"\0")
    with h5py.File(path, "r") as handle:  # an ordinary HDF5 file to other tools: the header is its user block
        assert handle.userblock_size == 512 and handle.attrs["format_version"] == 3
    found = FingerprintCache(path, DEFINITION).lookup(KEYS, SMILES)
    assert found.n_computed == 0
    np.testing.assert_array_equal(found.fingerprints, compute_fingerprints(SMILES, DEFINITION).fingerprints)
    # an append (the r+ path on a verified copy) seals the new file again
    FingerprintCache(path, DEFINITION).get_or_compute(["UHOVQNZJYSORNB-UHFFFAOYSA-N"], ["c1ccccc1"])
    data = path.read_bytes()
    assert hashlib.sha256(data[512:]).hexdigest().encode() in data[:512]
    assert FingerprintCache(path, DEFINITION).lookup(KEYS, SMILES).n_computed == 0


def _refused_before_hdf5(path: Path, opened: list[object], match: str = r"fp\.h5: ") -> None:
    """Both ways in, reading and appending, refuse the file with a rebuild hint and never hand it to HDF5."""
    appender = FingerprintCache(path.with_name("other.h5"), DEFINITION)
    appender.get_or_compute(KEYS[:1], SMILES[:1])  # its index is read; then the file is damaged under it ...
    appender.path.write_bytes(path.read_bytes())
    appender._file_signature = cache_module._signature(appender.path)  # ... unnoticed: the lookup goes on to append
    opened.clear()
    with pytest.raises(FingerprintCacheError, match=match) as refused:
        FingerprintCache(path, DEFINITION)
    assert "--rebuild-cache" in str(refused.value)
    with pytest.raises(FingerprintCacheError, match=r"other\.h5: .*--rebuild-cache"):
        appender.get_or_compute(KEYS, SMILES)
    assert opened == []
    assert sorted(p.name for p in path.parent.iterdir()) == ["fp.h5", "other.h5"]  # no temporary copy left


def test_a_flipped_bit_anywhere_is_refused_before_hdf5_opens_the_file(tmp_path: Path, hdf5_opens) -> None:
    path = _warm_cache(tmp_path)
    size = path.stat().st_size
    hdf5_opens.clear()
    with open(path, "r+b") as raw:
        for position in [*range(512), *range(512, size, 97), size - 1]:  # every header byte, then a sample
            raw.seek(position)
            byte = raw.read(1)[0]
            for value in (byte ^ (1 << position % 8), byte):  # flip it, then put it back
                raw.seek(position)
                raw.write(bytes([value]))
                raw.flush()
                if value != byte:
                    with pytest.raises(FingerprintCacheError, match=r"fp\.h5: .*--rebuild-cache"):
                        FingerprintCache(path, DEFINITION)
    assert hdf5_opens == []
    FingerprintCache(path, DEFINITION)  # every byte put back: valid again
    damaged = bytearray(path.read_bytes())
    damaged[700] ^= 0x10
    path.write_bytes(bytes(damaged))
    _refused_before_hdf5(path, hdf5_opens)


@pytest.mark.parametrize("position", [512, 600, 700, 952, 1200, 1500, 2000, 2500, 3000])
def test_an_inserted_byte_in_the_hdf5_headers_is_refused_before_hdf5_opens_the_file(
    tmp_path: Path, hdf5_opens, position: int
) -> None:
    path = _warm_cache(tmp_path)
    valid = path.read_bytes()
    path.write_bytes(valid[:position] + b"\x07" + valid[position:])
    _refused_before_hdf5(path, hdf5_opens, match=r"fp\.h5: damaged fingerprint cache: its contents do not match")


@pytest.mark.parametrize("length", [0, 5, 511, 512, 513, 2000, -1])
def test_a_truncated_cache_is_refused_before_hdf5_opens_the_file(tmp_path: Path, hdf5_opens, length: int) -> None:
    path = _warm_cache(tmp_path)
    valid = path.read_bytes()
    path.write_bytes(valid[:length])
    _refused_before_hdf5(path, hdf5_opens)


def test_an_older_cache_is_refused_with_a_rebuild_hint_and_rebuilt_on_request(tmp_path: Path, hdf5_opens) -> None:
    path = tmp_path / "fp.h5"
    with h5py.File(path, "w") as handle:  # format version 2: HDF5 from byte 0, no sealed header
        handle.attrs["format"] = cache_module.CACHE_FORMAT
        handle.attrs["format_version"] = 2
    hdf5_opens.clear()
    _refused_before_hdf5(path, hdf5_opens, match=r"fp\.h5: cache format version 2 or older")
    with pytest.warns(cache_module.CacheRebuiltWarning, match="version 2 or older"):
        cache = FingerprintCache(path, DEFINITION, rebuild_damaged=True)
    assert [p.name.startswith("fp.h5.corrupt-") for p in cache.moved_aside] == [True]
    assert cache.lookup(KEYS, SMILES).n_computed == len(KEYS)
    later = path.read_bytes().replace(b"format_version 3\n", b"format_version 4\n")
    path.write_bytes(later)
    with pytest.raises(FingerprintCacheError, match=r"format version 4 is not supported .*--rebuild-cache"):
        FingerprintCache(path, DEFINITION)


def test_the_fuzz_campaigns_hanging_cache_is_refused_in_a_fresh_process(tmp_path: Path) -> None:
    """Fuzz campaign cache #1138 (seed 0), in today's format: one byte inserted into an HDF5 object header makes
    libhdf5 loop forever on opening it (checked by hand: ``h5py.File`` did not return in 20 s); specvae must refuse
    it at once. A fresh process with a time limit, because a hang could not be interrupted here."""
    path = tmp_path / "fp.h5"
    path.write_bytes(gzip.decompress((DATA / "cache_inserted_byte_hangs_hdf5.h5.gz").read_bytes()))
    script = (
        "import sys\n"
        "from specvae.fingerprints import FingerprintCache, FingerprintCacheError, FingerprintDefinition\n"
        "try:\n"
        "    FingerprintCache(sys.argv[1], FingerprintDefinition())\n"
        "except FingerprintCacheError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120, cwd=REPOSITORY
    )
    assert done.returncode == 0, done.stderr
    assert f"{path}: damaged fingerprint cache: its contents do not match the sha256" in done.stdout


def test_storage_order_follows_the_stored_rows_and_puts_missing_keys_last(tmp_path: Path) -> None:
    path = tmp_path / "fp.h5"
    cache = FingerprintCache(path, DEFINITION)
    assert cache.storage_order(KEYS[::-1]) == [0, 1, 2, 3, 4]  # nothing stored yet: the order as given
    cache.get_or_compute(KEYS[:3], SMILES[:3])
    asked = [KEYS[4], KEYS[2], KEYS[3], KEYS[0], KEYS[1]]
    # stored rows 0, 1, 2 (KEYS[0], KEYS[1], KEYS[2]) first, then the two missing keys in the order asked
    assert FingerprintCache(path, DEFINITION).storage_order(asked) == [3, 4, 1, 0, 2]


@pytest.mark.parametrize("chunk_rows", [1, 4, 7, 50])
def test_rows_are_read_from_the_chunks_that_hold_them(tmp_path, chunk_rows):
    """Reading only the chunks a request needs gives what indexing the whole dataset gives, for rows in any order,
    repeated, at the ends and in the file's last, partial chunk."""
    values = np.arange(50 * 3, dtype=np.uint8).reshape(50, 3)
    with h5py.File(tmp_path / "rows.h5", "w") as handle:
        dataset = handle.create_dataset("bits", data=values, chunks=(chunk_rows, 3), compression="gzip")
        generator = np.random.default_rng(chunk_rows)
        for rows in ([49], [0], [5, 5, 0, 49, 48, 12], generator.permutation(50)[:20], np.arange(50)):
            rows = np.asarray(rows, dtype=np.int64)
            assert np.array_equal(cache_module._rows_of_chunks(dataset, rows), values[rows])


# ----------------------------------------------------------------------------- files of an older specvae
def test_a_cache_without_failure_digests_is_read_and_its_failures_retried_once(tmp_path: Path) -> None:
    """A file written before failures were remembered with their text's digest: its rows are read as they are, and
    a remembered failure (of unknown text) is computed once more, then remembered with its digest."""
    path = tmp_path / "fp.h5"
    keys, smiles = [KEYS[0], BAD_KEY], [SMILES[0], "C1CC"]
    FingerprintCache(path, DEFINITION).lookup(keys, smiles)
    _edit_and_reseal(path, lambda handle: handle.__delitem__("invalid_digests"))
    found = FingerprintCache(path, DEFINITION).lookup(keys, smiles)
    assert found.n_computed == 1 and found.valid.tolist() == [True, False]
    assert "could not be parsed" in found.errors[0].reason
    again = FingerprintCache(path, DEFINITION).lookup(keys, smiles)
    assert again.n_computed == 0 and again.errors == found.errors


def test_failures_an_older_specvae_added_without_digests_do_not_break_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fp.h5"
    FingerprintCache(path, DEFINITION).lookup([BAD_KEY], ["C1CC"])

    def add_a_failure_as_an_older_specvae(handle: h5py.File) -> None:
        for name, value in (("invalid_inchikeys", b"CCCCCCCCCCCCCC-DDDDDDDDDD-E"), ("invalid_reasons", "old")):
            handle[name].resize(2, axis=0)
            handle[name][1] = value

    _edit_and_reseal(path, add_a_failure_as_an_older_specvae)
    cache = FingerprintCache(path, DEFINITION)
    assert "CCCCCCCCCCCCCC-DDDDDDDDDD-E" in cache
    found = cache.lookup([BAD_KEY, KEYS[1], "CCCCCCCCCCCCCC-DDDDDDDDDD-E"], ["C1CC", "C1CC(", "C1CC(("])
    assert found.n_computed == 2  # the older failure's text is unknown: computed again
    with h5py.File(path, "r") as handle:
        assert handle["invalid_digests"].shape == (4, cache_module.DIGEST_LENGTH)
    assert FingerprintCache(path, DEFINITION).lookup([KEYS[1]], ["C1CC("]).n_computed == 0


def test_the_stored_key_check_finds_the_first_key_that_is_no_inchikey() -> None:
    good = [b"BSYNRYMUTXBXSQ-UHFFFAOYSA-N", b"RZVAJINKPMORJF-UHFFFAOYSA-N"]
    assert cache_module._first_non_inchikey(np.array(good, dtype="S27")) is None
    assert cache_module._first_non_inchikey(np.array([], dtype="S27")) is None
    for bad in (b"BSYNRYMUTXBXSQ-UHFFFAOYSA-n", b"BSYNRYMUTXBXSQ_UHFFFAOYSA-N", b"BSYNRYMUTXBXSQ-UHFFFAOYSA", b"x"):
        stored = np.array([good[0], bad, good[1], b"ALSO-NOT-ONE"], dtype="S27")
        assert cache_module._first_non_inchikey(stored) == bad.decode()
