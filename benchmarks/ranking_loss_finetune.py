"""Does a ranking term against same-formula decoys teach a fingerprint network what the cross-entropy ranking needs?

Most CASMI candidates share the answer's formula, and the bit-wise cross-entropy a network is trained on does not
say which bits separate isomers. This script fine-tunes a trained feed-forward network (``specvae benchmark
train-baseline``) with one more term: for each training spectrum, a softmax over its structure and up to
``--decoys-per-step`` decoys of the same formula, scored as the ranking scores them. The ranking score of a
candidate, sum over bits of log p or log (1 - p), is ``bits . logits`` plus a term every candidate of the spectrum
shares, so the term is ``-log softmax(candidate_bits @ logits)[true]``. Decoys are the other training structures of
the formula and up to ``--library-isomers`` isomers from a structure library (MOSES), each differing from the true
structure in at least one kept bit. ``--weight 0`` fine-tunes with the cross-entropy alone: the control for the
extra epochs. One model file per epoch (``OUT_e{epoch}.specvae``); compare them with
``benchmarks/isomer_list_retrieval.py`` (within-formula retrieval) and ``benchmarks/ensemble_pairs.py``::

    python benchmarks/ranking_loss_finetune.py runs/train_nl200.h5 runs/feedforward_nl200_negative.specvae \\
        --mode negative --isomers moses_train.csv.gz --weight 1 --epochs 6 -o runs/rankft_negative_w1
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F

from specvae.baseline import load_feedforward_model
from specvae.fingerprints.compute import compute_fingerprints
from specvae.isomer_lists import isomers_by_formula
from specvae.model_file import save_model
from specvae.smiles_files import read_smiles_file
from specvae.training import TrainingOptions, prepare_training_inputs
from specvae.validation_lists import structure_formulas_and_masses


def decoys_by_structure(
    structures_by_formula: dict[str, list[int]],
    kept_bits: np.ndarray,
    library_bits: dict[str, np.ndarray],
) -> dict[int, np.ndarray]:
    """Kept bits of every training structure's decoys: library isomers and the other training structures of its
    formula, leaving out any with exactly the structure's own bits (the ranking could not tell them apart)."""
    decoys: dict[int, np.ndarray] = {}
    for formula, structures in structures_by_formula.items():
        library = library_bits.get(formula, np.zeros((0, kept_bits.shape[1]), dtype=np.float32))
        for structure in structures:
            others = kept_bits[[other for other in structures if other != structure]]
            rows = np.concatenate([library, others])
            rows = rows[np.any(rows != kept_bits[structure], axis=1)]
            if len(rows):
                decoys[structure] = rows
    return decoys


def ranking_term(
    logits: torch.Tensor, true_bits: np.ndarray, decoys: list[np.ndarray | None], rng: np.random.Generator, k: int
) -> torch.Tensor | None:
    """Mean of -log softmax(bits @ logits)[true] over the spectra that have decoys (None when none has)."""
    with_decoys = [row for row, rows in enumerate(decoys) if rows is not None]
    if not with_decoys:
        return None
    candidates = np.zeros((len(with_decoys), k + 1, logits.shape[1]), dtype=np.float32)
    present = np.zeros((len(with_decoys), k + 1), dtype=bool)
    for slot, row in enumerate(with_decoys):
        rows = decoys[row]
        chosen = rows[rng.choice(len(rows), min(k, len(rows)), replace=False)]
        candidates[slot, 0] = true_bits[row]
        candidates[slot, 1 : 1 + len(chosen)] = chosen
        present[slot, : 1 + len(chosen)] = True
    scores = torch.einsum("skd,sd->sk", torch.from_numpy(candidates), logits[with_decoys])
    scores = scores.masked_fill(~torch.from_numpy(present), float("-inf"))
    return -torch.log_softmax(scores, dim=1)[:, 0].mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("training_set")
    parser.add_argument("model", help="a trained feed-forward model file of this training set and mode")
    parser.add_argument("--mode", choices=("positive", "negative"), default="positive")
    parser.add_argument("--isomers", required=True, help="SMILES library the isomer decoys come from (e.g. MOSES)")
    parser.add_argument("--weight", type=float, default=1.0, help="weight of the ranking term (0: the control)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--decoys-per-step", type=int, default=16)
    parser.add_argument("--library-isomers", type=int, default=40, help="at most this many library isomers a formula")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", required=True, help="prefix of the model files written after each epoch")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    inputs = prepare_training_inputs(args.training_set, TrainingOptions(ion_mode=args.mode, seed=0, progress=False))
    network, metadata = load_feedforward_model(args.model)
    network.float()
    if inputs.definition.n_kept_bits != metadata.architecture.n_fingerprint_bits:
        parser.error(
            f"{args.model} predicts {metadata.architecture.n_fingerprint_bits} bits, the set keeps "
            f"{inputs.definition.n_kept_bits}: not a model of this training set and mode"
        )
    dataset = inputs.dataset
    kept_bits = dataset.kept_fingerprints
    formulas, _ = structure_formulas_and_masses(args.training_set)
    structures_by_formula: dict[str, list[int]] = defaultdict(list)
    for structure in np.unique(dataset.fingerprint_rows[dataset.fingerprint_rows >= 0]):
        if formulas[structure]:
            structures_by_formula[formulas[structure]].append(int(structure))

    library = isomers_by_formula(read_smiles_file(args.isomers), set(structures_by_formula), progress=False)
    library_smiles, library_formulas = [], []
    for formula, smiles in library.items():
        if len(smiles) > args.library_isomers:
            smiles = list(rng.choice(smiles, args.library_isomers, replace=False))
        library_smiles += smiles
        library_formulas += [formula] * len(smiles)
    computed = compute_fingerprints(library_smiles, inputs.data.fingerprint, progress=False)
    failed = {error.index for error in computed.errors}
    bits = inputs.definition.select_kept(computed.fingerprints).astype(np.float32)
    grouped: dict[str, list[np.ndarray]] = defaultdict(list)
    for row, formula in enumerate(library_formulas):
        if row not in failed:
            grouped[formula].append(bits[row])
    library_bits = {formula: np.stack(rows) for formula, rows in grouped.items()}
    decoys = decoys_by_structure(structures_by_formula, kept_bits, library_bits)
    print(
        f"{len(structures_by_formula)} training formulas, {len(library)} with library isomers "
        f"({len(library_smiles)} decoys); {len(decoys)} training structures have decoys",
        flush=True,
    )

    # the files say what was done to the network after its recorded training
    metadata = dataclasses.replace(metadata, training={**metadata.training, "ranking_fine_tuning": vars(args)})
    optimizer = torch.optim.Adam(network.parameters(), lr=args.learning_rate)
    for epoch in range(1, args.epochs + 1):
        network.train()
        started, cross_entropy_sum, ranking_sum, n_ranked = time.perf_counter(), 0.0, 0.0, 0
        order = rng.permutation(len(dataset))
        for start in range(0, len(order), args.batch_size):
            indices = order[start : start + args.batch_size]
            batch = dataset.batch(torch.from_numpy(indices))
            logits = network.logits(batch.data["spectrum"])
            cross_entropy = F.binary_cross_entropy_with_logits(
                logits, batch.data["fingerprint"], reduction="sum"
            ) / len(indices)
            loss = cross_entropy
            structures = dataset.fingerprint_rows[indices]
            term = ranking_term(
                logits, kept_bits[structures], [decoys.get(int(s)) for s in structures], rng, args.decoys_per_step
            )
            if term is not None and args.weight > 0:
                loss = loss + args.weight * term
            if term is not None:
                ranking_sum += float(term.detach()) * len(indices)
                n_ranked += len(indices)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            cross_entropy_sum += float(cross_entropy.detach()) * len(indices)
        network.eval()
        save_model(f"{args.output}_e{epoch}.specvae", network, metadata, half_precision=True)
        print(
            f"epoch {epoch}: cross-entropy {cross_entropy_sum / len(order):.2f}, ranking term "
            f"{ranking_sum / max(n_ranked, 1):.3f} ({time.perf_counter() - started:.1f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
