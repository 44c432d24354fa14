"""Validation against database isomers: each validation spectrum's structure ranked against isomers of its formula
from a structure library that is not MassBank (MOSES, ZINC clean leads), the situation of a user whose candidates
come from PubChem or ChemSpider.

The validation lists of ``fit-fragment-weight`` draw their decoys from the training set's own structures, so a
model's knowledge of which structures of a formula have MassBank spectra is worth nothing there; CASMI 2016's
ChemSpider lists reward it (``results/accuracy/formula_input.md``). These lists measure that knowledge without
CASMI: the lists ``specvae fit-formula-weight`` chooses on (:mod:`specvae.isomer_lists`: validation spectra, each
against up to ``--decoys`` MOSES structures of its structure's formula). Every candidate of a list shares the
formula, so the fragment-formula term cannot separate them and is left out.

Variants: the shipped pair ("plain"), the formula-input network under the answer's formula, and the pair's and the
formula network's log-likelihoods mixed with weight ``alpha`` (the score that ``formula_input.py`` normalises
within each formula).

    SPECVAE_DATA_DIR=... python benchmarks/formula_decoys.py RUNS MOSES_TRAIN_CSV_GZ

``MOSES_TRAIN_CSV_GZ`` is ``moses/dataset/data/train.csv.gz`` of the molsets 0.3.1 wheel (MIT licence;
``data_manifests/moses.json``). Needs RUNS/formula_ff_{positive,negative}.pt (``formula_input.py train``) and the
training sets of the shipped files.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse
from formula_input import TRAINING_SETS, load_formula_network, predict_with_formulas, shipped_members

from specvae.smiles_files import read_smiles_file

ALPHAS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def decoy_rows(runs: Path, ion_mode: str, library: list[str], n_decoys: int, max_spectra: int, name: str) -> list[dict]:
    """Log-likelihood of the answer (row 0) and its isomers under each variant, one row per list: the lists
    ``specvae fit-formula-weight`` chooses on (:func:`specvae.isomer_lists.isomer_lists`)."""
    from specvae.fingerprints import FingerprintDefinition
    from specvae.isomer_lists import isomer_lists
    from specvae.pipeline.prediction import predict_in_canonical_batches
    from specvae.ranking import score_candidates
    from specvae.training_set_reader import TrainingSet

    training_set = runs / TRAINING_SETS[ion_mode]
    pair_model, _, svae, metadata = shipped_members(ion_mode)
    definition = FingerprintDefinition.from_dict(metadata.fingerprint)
    lists = isomer_lists(training_set, ion_mode, definition, library, n_isomers=n_decoys, max_spectra=max_spectra)
    data = TrainingSet.load(training_set, ion_mode)
    network, _ = load_formula_network(str(runs / f"{name}_{ion_mode}.pt"))
    binned = data.spectra[np.array([one.spectrum_row for one in lists])]
    pair = predict_in_canonical_batches(pair_model, binned)
    member = predict_in_canonical_batches(svae, binned)
    empty = scipy.sparse.csr_matrix((1, binned.shape[1]), dtype=np.float32)
    rows = []
    for position, one in enumerate(lists):
        with_formula = predict_with_formulas(network, binned[position], [one.formula])[0]
        spectrum_free = predict_with_formulas(network, empty, [one.formula])[0]
        without_formula = predict_with_formulas(network, binned[position], [None])[0]
        rows.append(
            {
                "plain": score_candidates(pair[position], one.bits),
                "formula": score_candidates(with_formula, one.bits),
                "formula + SVAE": score_candidates((with_formula + member[position]) / 2, one.bits),
                "spectrum-free": score_candidates(spectrum_free, one.bits),
                "no-formula pair": score_candidates((without_formula + member[position]) / 2, one.bits),
                "SVAE": score_candidates(member[position], one.bits),
            }
        )
    return rows


def answer_counts(rows: list[dict], scores_of) -> tuple[int, int, int]:
    """Answers (row 0 of each list) within 1 / 3 / 10 by expected rank."""
    from specvae.benchmark.metrics import answer_rank

    counts = np.zeros(3, dtype=int)
    for row in rows:
        scores = scores_of(row)
        is_answer = np.zeros(len(scores), dtype=bool)
        is_answer[0] = True
        rank = answer_rank(scores, is_answer)
        counts += [rank.within(k) for k in (1, 3, 10)]
    return tuple(int(count) for count in counts)


def expected_ranks(rows: list[dict], scores_of) -> np.ndarray:
    from specvae.benchmark.metrics import answer_rank

    ranks = []
    for row in rows:
        scores = scores_of(row)
        is_answer = np.zeros(len(scores), dtype=bool)
        is_answer[0] = True
        ranks.append(answer_rank(scores, is_answer).expected)
    return np.array(ranks)


def head_to_head(tables: dict[str, list[dict]], scores_of, base: str = "plain") -> str:
    """Lists where ``scores_of`` ranks the answer better / worse than ``base``, both modes, and the two-sided sign
    test's p."""
    from scipy.stats import binomtest

    better = worse = 0
    for rows in tables.values():
        plain = expected_ranks(rows, lambda row: row[base])
        other = expected_ranks(rows, scores_of)
        better += int(np.sum(other < plain))
        worse += int(np.sum(other > plain))
    p = binomtest(better, better + worse).pvalue if better + worse else 1.0
    return f"{better} / {worse} (p = {p:.2g})"


def print_table(tables: dict[str, list[dict]], base: str = "plain") -> None:
    """Top-1/3/10 of ``base`` mixed with each formula variant (``(1 - alpha) * base + alpha * variant``)."""
    sizes = {mode: int(np.median([len(row["plain"]) for row in rows])) for mode, rows in tables.items()}
    header = " | ".join(f"{mode}: {len(rows)} lists (median {sizes[mode]})" for mode, rows in tables.items())
    print(f"\n| variant mixed with {base} | alpha | {header} | better / worse than {base}, both modes |")
    print("|---|---|" + "---|" * len(tables) + "---|")
    if base != "plain":
        cells = ["/".join(map(str, answer_counts(rows, lambda row: row["plain"]))) for rows in tables.values()]
        print(
            "| plain (the shipped pair) | – | "
            + " | ".join(cells)
            + f" | {head_to_head(tables, lambda row: row['plain'], base)} |"
        )
    for variant in ("formula", "formula + SVAE", "spectrum-free"):
        for alpha in ALPHAS:
            if alpha == 0 and variant != "formula":
                continue

            def mixed(row, alpha=alpha, variant=variant):
                return (1 - alpha) * row[base] + alpha * row[variant]

            cells = ["/".join(map(str, answer_counts(rows, mixed))) for rows in tables.values()]
            name = f"{base} alone" if alpha == 0 else variant
            print(f"| {name} | {alpha} | " + " | ".join(cells) + f" | {head_to_head(tables, mixed, base)} |")


def print_tables(tables: dict[str, list[dict]]) -> None:
    print_table(tables)
    for base in ("no-formula pair", "SVAE"):
        if all(base in row for rows in tables.values() for row in rows):
            print_table(tables, base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("library", type=Path, help="MOSES train.csv.gz")
    parser.add_argument("--decoys", type=int, default=99)
    parser.add_argument("--name", default="formula_ff", help="networks RUNS/NAME_{positive,negative}.pt")
    parser.add_argument("--max-spectra", type=int, default=1000, help="validation spectra drawn per ion mode")
    parser.add_argument("--table-only", action="store_true", help="print the table from RUNS/formula_decoys_rows.pkl")
    arguments = parser.parse_args()
    saved = arguments.runs / f"{arguments.name}_decoys_rows.pkl"
    if arguments.table_only:
        with open(saved, "rb") as handle:
            print_tables(pickle.load(handle))
        return
    library = read_smiles_file(arguments.library)
    tables = {
        mode: decoy_rows(arguments.runs, mode, library, arguments.decoys, arguments.max_spectra, arguments.name)
        for mode in ("positive", "negative")
    }
    with open(saved, "wb") as handle:
        pickle.dump(tables, handle)
    print_tables(tables)


if __name__ == "__main__":
    main()
