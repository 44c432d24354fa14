"""A pool of bare SMILES is indexed by mass without parsing its rows; a row is parsed (its InChIKey worked out)
only when a spectrum's mass window holds it, or its key is read from the fingerprint cache."""

from __future__ import annotations

import pytest

from specvae.annotator import Annotator
from specvae.candidates.reading import read_candidate_file_set
from specvae.errors import ErrorReport
from specvae.fingerprints import FingerprintCache, FingerprintDefinition
from specvae.pipeline.planning import settle_keys

# In the window of spectrum s ([M+H]+ at 181.0859: C10H12O3, 180.0786 Da): a, a written another way (the same
# structure: dropped as a repeat of the earlier row) and b. In the window of spectrum t (188.1776 Da): a carbon with
# six bonds, whose SMILES reads without sanitising (so it is indexed by mass) and is refused when its key is worked
# out. In no window: ethanol and glycine.
POOL = "\n".join(
    [
        "smiles",
        "CCO",  # record 1
        "COC(=O)CCc1ccc(O)cc1",  # 2: a
        "C1CC(",  # 3: does not read at all: reported while reading
        "O=C(OC)CCc1ccc(O)cc1",  # 4: a again
        "CCOC(=O)c1ccc(O)cc1C",  # 5: b
        "CC(C)(C)(C)(C)CCCC(=O)OC",  # 6: six bonds on a carbon
        "NCC(=O)O",  # 7
    ]
)
SPECTRUM = "".join(
    f"BEGIN IONS\nTITLE={title}\nPEPMASS={mz}\nCHARGE=1+\nIONMODE=POSITIVE\n77.039 20\n105.033 100\nEND IONS\n\n"
    for title, mz in (("s", 181.0859), ("t", 189.1849))
)
KEY_A = "XRAMJHXWXCMGJM-UHFFFAOYSA-N"
KEY_B = "KPFPCGFKQNSWSQ-UHFFFAOYSA-N"


@pytest.fixture
def files(tmp_path):
    pool, spectra = tmp_path / "pool.csv", tmp_path / "spectra.mgf"
    pool.write_text(POOL + "\n")
    spectra.write_text(SPECTRUM)
    return pool, spectra


def test_only_the_rows_in_a_window_are_parsed_and_repeats_dropped_there(files, tiny_models):
    pool, spectra = files
    errors = ErrorReport()
    candidate_set = read_candidate_file_set(pool, errors)
    assert [(error.record, "invalid SMILES" in error.reason) for error in errors] == [(3, True)]
    assert len(candidate_set) == 6 and not any(c.key_known for c in candidate_set.candidates())

    results = Annotator.load(tiny_models["positive"]).annotate(spectra, candidate_set, top_k=None, errors=errors)
    ranked = {row.inchikey: row.identifier for row in results[0].ranked}
    assert ranked == {KEY_A: KEY_A, KEY_B: KEY_B}  # a once (row 2), b; the identifier is the key
    assert results[1].spectrum_id == "t" and not results[1].ranked
    assert [(error.file, error.record) for error in errors][1:] == [(str(pool), 6)]
    assert "valence" in list(errors)[1].reason
    known = {candidate.smiles: candidate.key_known for candidate in candidate_set.candidates()}
    assert known["CCO"] is False and known["NCC(=O)O"] is False  # never parsed: outside every window


def test_a_warm_cache_gives_the_keys_without_a_parse(files, tiny_models, tmp_path, monkeypatch):
    pool, spectra = files
    cache_path = tmp_path / "fp.h5"
    Annotator.load(tiny_models["positive"], fingerprint_cache=cache_path).annotate(
        spectra, pool, top_k=None, errors=ErrorReport()
    )
    cache = FingerprintCache(cache_path, FingerprintDefinition())
    candidate_set = read_candidate_file_set(pool, ErrorReport())
    window = candidate_set.candidates_for(180.078644, 10.0)

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed although the cache knows the key")

    monkeypatch.setattr("specvae.candidates.candidate.parse_structure", no_parse)
    # the texts the cache stored (one per key: the repeat written another way is not among them)
    readable = [match for match in window if match.candidate.smiles in ("COC(=O)CCc1ccc(O)cc1", "CCOC(=O)c1ccc(O)cc1C")]
    settled = settle_keys(readable, str(pool), ErrorReport(), cache.stored_keys)
    assert sorted(match.candidate.inchikey for match in settled) == sorted([KEY_A, KEY_B])

