"""Within-formula retrieval of several models on the same isomer lists: a selection metric that a mass input cannot
win by knowing the mass.

The plain validation retrieval ranks each validation spectrum against every validation structure of its ion mode,
whatever their masses; a network that reads the precursor m/z (``specvae prepare --precursor-bin-width``) would gain
there just by predicting the size. CASMI candidates mostly share the answer's formula. These lists
(:func:`specvae.isomer_lists.isomer_lists`, what ``fit-formula-weight`` fits on) put each validation structure among
up to 99 library isomers of its formula, so only what the spectrum says about the structure counts.

Each model is given with the training set it was trained on (``MODEL=TRAINING_SET``); the lists are built once from
the first training set's validation spectra and looked up in the others by spectrum identifier (every training set
must hold the same spectra, split alike: the same ``specvae prepare`` inputs and seed, other bins allowed).

    python benchmarks/isomer_list_retrieval.py --isomers moses_train.csv.gz \\
        "feed-forward=ff_negative.specvae=train_nl200.h5" "with precursor=ff_prec_negative.specvae=train_prec.h5"
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from specvae.benchmark.metrics import answer_rank
from specvae.fingerprints import FingerprintDefinition
from specvae.isomer_lists import isomer_lists
from specvae.model_file import load_model
from specvae.pipeline.prediction import predict_in_canonical_batches
from specvae.ranking import score_candidates
from specvae.smiles_files import read_smiles_file
from specvae.training_set_reader import TrainingSet, spectrum_text_columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="LABEL=MODEL=TRAINING_SET")
    parser.add_argument("--isomers", required=True, help="SMILES library the isomers come from (e.g. MOSES)")
    parser.add_argument("--n-isomers", type=int, default=99)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", help="also write the table as JSON here")
    arguments = parser.parse_args()
    entries = [entry.split("=", 2) for entry in arguments.models]
    if any(len(entry) != 3 for entry in entries):
        parser.error("each model is LABEL=MODEL=TRAINING_SET")
    first_model, first_metadata = load_model(entries[0][1])
    mode = first_metadata.ion_mode
    definition = FingerprintDefinition.from_dict(first_metadata.fingerprint)
    lists = isomer_lists(
        entries[0][2], mode, definition, read_smiles_file(arguments.isomers),
        n_isomers=arguments.n_isomers, seed=arguments.seed,
    )  # fmt: skip
    identifiers = spectrum_text_columns(entries[0][2], mode, ("identifier",))["identifier"].tolist()
    wanted = [identifiers[one.spectrum_row] for one in lists]
    rows = []
    for label, model_path, training_set in entries:
        model, metadata = load_model(model_path)
        if metadata.ion_mode != mode or FingerprintDefinition.from_dict(metadata.fingerprint) != definition:
            raise SystemExit(f"{model_path}: another ion mode or fingerprint than {entries[0][1]}")
        data = TrainingSet.load(training_set, mode)
        its_identifiers = spectrum_text_columns(training_set, mode, ("identifier",))["identifier"]
        row_of = {identifier: row for row, identifier in enumerate(its_identifiers)}
        missing = [identifier for identifier in wanted if identifier not in row_of]
        if missing:
            raise SystemExit(f"{training_set}: lacks {len(missing)} of the listed spectra (first: {missing[0]})")
        predicted = predict_in_canonical_batches(model, data.spectra[np.array([row_of[i] for i in wanted])])
        ranks = []
        for position, one in enumerate(lists):
            is_answer = np.zeros(len(one.bits), dtype=bool)
            is_answer[0] = True
            ranks.append(answer_rank(score_candidates(predicted[position], one.bits), is_answer))
        rows.append(
            {
                "label": label,
                "model": model_path,
                "top1": float(np.mean([rank.within(1) for rank in ranks])),
                "top10": float(np.mean([rank.within(10) for rank in ranks])),
                "mean_rank": float(np.mean([rank.expected for rank in ranks])),
            }
        )
    print(f"{len(lists)} isomer lists of {mode} validation spectra (up to {arguments.n_isomers} isomers each)")
    print("| model | top-1 | top-10 | mean rank |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['label']} | {row['top1']:.3f} | {row['top10']:.3f} | {row['mean_rank']:.1f} |")
    if arguments.output:
        with open(arguments.output, "w") as handle:
            json.dump({"mode": mode, "n_lists": len(lists), "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
