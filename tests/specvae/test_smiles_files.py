"""The one reader of SMILES lists (train --unpaired-smiles, fit-formula-weight --isomers)."""

from __future__ import annotations

import gzip

from specvae.smiles_files import read_smiles_file


def test_files_with_a_header_a_name_column_or_other_csv_columns_give_their_smiles(tmp_path) -> None:
    compressed = tmp_path / "train.csv.gz"
    with gzip.open(compressed, "wt") as handle:
        handle.write("SMILES,SPLIT\nCCO,train\nc1ccccc1,train\n")
    named = tmp_path / "mols.smi"
    named.write_text("CCO ethanol\n\nc1ccccc1\tbenzene\n")
    assert read_smiles_file(compressed) == ["CCO", "c1ccccc1"]
    assert read_smiles_file(named) == ["CCO", "c1ccccc1"]
