"""The molecular formula as a network input: a feed-forward network that reads the binned spectrum *and* the
element counts of a formula, so that each candidate is scored under the prediction made with its own formula
(CSI:FingerID-style formula conditioning). Measured here, not shipped: see
``benchmarks/results/accuracy/formula_input.md``.

    # train (same options and convergence rules as `specvae benchmark train-baseline`), once per ion mode
    python benchmarks/formula_input.py train RUNS/train_nl200_merged.h5 positive RUNS/formula_ff_positive.pt
    python benchmarks/formula_input.py train RUNS/train_nl200.h5 negative RUNS/formula_ff_negative.pt
    # evaluate on the validation lists (selection) and on CASMI 2016 (test)
    SPECVAE_DATA_DIR=... python benchmarks/formula_input.py evaluate RUNS > formula_input.md

In training and in the validation metric the formula block holds the structure's own formula. At evaluation each
candidate is scored under the prediction made with its formula, alone ("formula") or averaged with the SVAE seed-1
member of the shipped pair ("formula + SVAE"), against the shipped pair (feed-forward + SVAE seed 1, "plain"),
every variant with the shipped fragment-formula term (weight 1000, 5 ppm, ion rule). "Spectrum-free" scores each
candidate under the prediction from its formula and an empty spectrum: what the network knows about structures of
a formula without looking at the spectrum.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import scipy.sparse
import torch

from specvae.formula_features import N_FORMULA_FEATURES, formula_features
from specvae.fragment_formulas import FragmentFormulaScoring

SHIPPED_FRAGMENT_SCORING = FragmentFormulaScoring(weight=1000.0, ppm=5.0, min_tolerance_da=0.001)


def drop_formula_block(spectrum: torch.Tensor, n_bins: int, probability: float) -> torch.Tensor:
    """``spectrum`` (batch, n_bins + formula features; dense or sparse) with the formula block of a random share
    ``probability`` of its rows set to zero: the network learns to predict with and without a formula."""
    dropped = torch.rand(spectrum.shape[0], device=spectrum.device) < probability
    if spectrum.is_sparse or spectrum.layout == torch.sparse_csr:
        coo = spectrum.to_sparse_coo().coalesce()
        rows, columns = coo.indices()
        keep = (columns < n_bins) | ~dropped[rows]
        return torch.sparse_coo_tensor(coo.indices()[:, keep], coo.values()[keep], coo.shape).coalesce()
    spectrum = spectrum.clone()
    spectrum[dropped, n_bins:] = 0
    return spectrum


def pool_bins(binned: scipy.sparse.csr_matrix, pool: int) -> scipy.sparse.csr_matrix:
    """Each run of ``pool`` consecutive bins summed into one (1 Da from 0.1 Da bins with ``pool`` 10)."""
    if pool == 1:
        return binned
    n_bins = binned.shape[1]
    rows = np.arange(n_bins)
    pooling = scipy.sparse.csr_matrix((np.ones(n_bins, dtype=np.float32), (rows, rows // pool)))
    return (binned @ pooling).tocsr()


def train(
    training_set: str,
    ion_mode: str,
    output: str,
    checkpoint_dir: str | None,
    formula_dropout: float = 0.0,
    pool: int = 1,
) -> None:
    """Train the formula-input network: the training set's spectra with each spectrum's structure formula appended
    (with ``formula_dropout``, each batch row's formula block is left out with that probability; with ``pool``,
    the network reads groups of that many bins summed, a first layer ``pool`` times smaller)."""
    import specvae.training as training
    import specvae.training_set_reader as reader
    from mmcore.training import Trainer
    from specvae.feedforward_network import FeedForwardFingerprintNetwork
    from specvae.validation_lists import structure_formulas_and_masses

    formulas, _ = structure_formulas_and_masses(training_set)
    table = np.stack([formula_features(formula) for formula in formulas])
    load = reader.TrainingSet.load.__func__

    def load_with_formulas(cls, path, ion_mode=None):  # the spectrum matrix gains the formula block
        data = load(cls, path, ion_mode)
        has_structure = (data.spectrum_structure >= 0)[:, None]
        block = np.where(has_structure, table[np.maximum(data.spectrum_structure, 0)], 0.0)
        data.spectra = scipy.sparse.hstack([pool_bins(data.spectra, pool), scipy.sparse.csr_matrix(block)]).tocsr()
        return data

    training.TrainingSet.load = classmethod(load_with_formulas)
    options = training.TrainingOptions(
        ion_mode=ion_mode, epochs=60, early_stopping_patience=6, lr_decay_patience=3, progress=False
    )
    torch.set_num_threads(1)
    torch.manual_seed(options.seed)
    inputs = training.prepare_training_inputs(training_set, options)
    n_inputs = inputs.data.spectra.shape[1]
    network = FeedForwardFingerprintNetwork(
        n_inputs, inputs.definition.n_kept_bits, options.hidden_dim, options.latent_dim
    )
    if formula_dropout > 0:
        n_bins, plain_logits = n_inputs - N_FORMULA_FEATURES, network.logits

        def logits_with_dropout(spectrum: torch.Tensor) -> torch.Tensor:
            if network.training:
                spectrum = drop_formula_block(spectrum, n_bins, formula_dropout)
            return plain_logits(spectrum)

        network.logits = logits_with_dropout
    trainer = Trainer(network, training.trainer_config(options, checkpoint_dir), validation_metric=inputs.metric)
    result = trainer.fit(inputs.dataset, inputs.validation_dataset, resume=checkpoint_dir is not None)
    network.eval()
    state = {
        "state": network.state_dict(),
        "n_inputs": n_inputs,
        "n_bits": inputs.definition.n_kept_bits,
        "definition": inputs.definition.to_dict(),
        "formula_dropout": formula_dropout,
        "pool": pool,
        "best_epoch": result.best_epoch,
        "metrics": result.best_metrics,
        "history": result.history,
    }
    torch.save(state, output)
    print(f"best epoch {result.best_epoch}: {result.best_metrics}")


def load_formula_network(path: str):
    from specvae.feedforward_network import FeedForwardFingerprintNetwork

    saved = torch.load(path, weights_only=False)  # our own experiment file, not a user's model
    network = FeedForwardFingerprintNetwork(saved["n_inputs"], saved["n_bits"], 192, 64)
    network.load_state_dict(saved["state"])
    network.input_pool = saved.get("pool", 1)
    return network.eval(), saved


@torch.no_grad()
def predict_with_formulas(network, binned: scipy.sparse.csr_matrix, formulas: list[str]) -> np.ndarray:
    """``(len(formulas), n_bits)`` probabilities for one binned spectrum ``(1, n_bins)`` under each formula: the
    first layer is linear, so its spectrum part is computed once and each formula's part added."""
    first = network.encoder[0]
    binned = pool_bins(binned, getattr(network, "input_pool", 1))
    n_bins = binned.shape[1]
    spectrum_part = torch.from_numpy(np.asarray(binned.toarray(), dtype=np.float32)) @ first.weight[:n_bins]
    formula_block = torch.from_numpy(np.stack([formula_features(formula) for formula in formulas]))
    hidden = torch.relu(spectrum_part + formula_block @ first.weight[n_bins:] + first.bias)
    return torch.sigmoid(network.decoder(network.encoder[2](hidden))).numpy()


def per_formula_scores(predict, formulas: list, score) -> dict[str, np.ndarray]:
    """Each candidate scored under the prediction of its own formula (NaN without a formula)."""
    scores = np.full(len(formulas), np.nan)
    distinct = sorted({formula for formula in formulas if formula})
    if distinct:
        for formula, prediction in zip(distinct, predict(distinct), strict=True):
            rows = np.array([i for i, other in enumerate(formulas) if other == formula])
            scores[rows] = score(prediction, rows)
    return scores


def variant_scores(network, binned, member_prediction, pair_prediction, formulas, score) -> dict[str, np.ndarray]:
    """The fingerprint scores of each variant for one list (``score(prediction, rows)`` scores those rows)."""
    empty = scipy.sparse.csr_matrix(binned.shape, dtype=np.float32)
    return {
        "plain": score(pair_prediction, np.arange(len(formulas))),
        "formula": per_formula_scores(lambda fs: predict_with_formulas(network, binned, fs), formulas, score),
        "formula + SVAE": per_formula_scores(
            lambda fs: (predict_with_formulas(network, binned, fs) + member_prediction) / 2, formulas, score
        ),
        "spectrum-free": per_formula_scores(lambda fs: predict_with_formulas(network, empty, fs), formulas, score),
        "SVAE": score(member_prediction, np.arange(len(formulas))),
        "no-formula pair": score(
            (predict_with_formulas(network, binned, [None])[0] + member_prediction) / 2, np.arange(len(formulas))
        ),
    }


SHIPPED = Path(__file__).resolve().parent.parent / "specvae" / "pretrained"
TRAINING_SETS = {"positive": "train_nl200_merged.h5", "negative": "train_nl200.h5"}  # the shipped files' own sets


def shipped_members(ion_mode: str):
    """The shipped pair of ``ion_mode`` and its two members (feed-forward network first, then SVAE seed 1)."""
    from specvae.model_file import load_model

    pair, metadata = load_model(SHIPPED / f"{ion_mode}.specvae")
    feedforward, svae = pair.members
    return pair, feedforward, svae, metadata


def validation_rows(runs: Path, ion_mode: str, network_path: Path, max_spectra: int = 1000) -> list[dict]:
    """Scores of every variant on the validation lists of one ion mode."""
    from specvae.fingerprints import FingerprintDefinition
    from specvae.fragment_weight_fit import list_shares
    from specvae.pipeline.prediction import predict_in_canonical_batches
    from specvae.ranking import score_candidates
    from specvae.training_set_reader import TrainingSet
    from specvae.validation_lists import read_peaks, validation_lists

    training_set = runs / TRAINING_SETS[ion_mode]
    lists = validation_lists(
        SHIPPED / f"{ion_mode}.specvae", training_set, n_nearest=256, max_spectra=max_spectra, seed=0
    )
    data = TrainingSet.load(training_set, ion_mode)
    pair_model, _, svae, metadata = shipped_members(ion_mode)
    kept = FingerprintDefinition.from_dict(metadata.fingerprint).select_kept(data.fingerprint_bits())
    network, saved = load_formula_network(str(network_path))
    if saved["definition"] != metadata.fingerprint:
        raise SystemExit(f"{network_path}: its kept bits differ from the shipped {ion_mode} model's")
    binned = data.spectra[np.array([one.spectrum_row for one in lists.lists])]
    member = predict_in_canonical_batches(svae, binned)
    pair = predict_in_canonical_batches(pair_model, binned)
    data_dir = os.environ["SPECVAE_DATA_DIR"]
    massbank = [f"{data_dir}/massbank/massbank_{mode}.mgf.gz" for mode in ("positive", "negative")]
    peaks = read_peaks(massbank, (one.identifier for one in lists.lists))
    shares = list_shares(lists, peaks, ion_mode, SHIPPED_FRAGMENT_SCORING)
    rows = []
    for position, (one, share) in enumerate(zip(lists.lists, shares, strict=True)):
        if share is None:
            continue
        bits = kept[one.candidates]
        formulas = [lists.formulas[row] for row in one.candidates]
        rows.append(
            {
                "variants": variant_scores(
                    network, binned[position], member[position], pair[position], formulas,
                    lambda prediction, rows, bits=bits: score_candidates(prediction, bits[rows]),
                ),
                "shares": share,
                "formulas": formulas,
                "is_answer": np.array([skeleton == one.answer_skeleton for skeleton in one.skeletons]),
            }
        )  # fmt: skip
    return rows


def casmi_rows(runs: Path, name: str = "formula_ff") -> list[dict]:
    """Scores of every variant on CASMI 2016, through the benchmark's pipeline (its scoring stage replaced)."""
    import specvae.pipeline.scoring as scoring
    from specvae.benchmark import load_casmi2016
    from specvae.benchmark.runner import run_benchmark
    from specvae.fragment_formulas import unexplained_shares
    from specvae.pipeline.fragment_scoring import candidate_formula, match_adduct
    from specvae.pipeline.prediction import predict_in_canonical_batches

    modes = ("positive", "negative")
    networks = {mode: load_formula_network(str(runs / f"{name}_{mode}.pt"))[0] for mode in modes}
    svae = {mode: shipped_members(mode)[2] for mode in modes}
    data = load_casmi2016(os.environ["SPECVAE_DATA_DIR"])
    answers = {challenge.name: challenge.answer_inchikey[:14] for challenge in data.challenges}
    rows = []

    def score_queries(queries, fingerprints, models):
        for query in queries:
            loaded = models[query.ion_mode]
            keys = [match.candidate.inchikey for match in query.matches]
            own = fingerprints.for_candidates([match.candidate for match in query.matches])  # as score_queries reads
            formulas = [candidate_formula(match) for match in query.matches]
            binned = loaded.binner.bin([query.spectrum])
            member = predict_in_canonical_batches(svae[query.ion_mode], binned)[0]

            def score(prediction, rows, keys=keys, loaded=loaded, own=own):
                return scoring.candidate_scores(prediction, [keys[row] for row in rows], own, loaded.fingerprint)

            peaks = query.spectrum.peaks
            shares = unexplained_shares(
                formulas, [match_adduct(match, query.ion_mode) for match in query.matches], peaks.mz,
                peaks.intensities, float(query.spectrum.get("precursor_mz")), SHIPPED_FRAGMENT_SCORING,
            )  # fmt: skip
            variants = variant_scores(networks[query.ion_mode], binned, member, query.prediction, formulas, score)
            answer = answers.get(query.spectrum_id)
            rows.append(
                {
                    "variants": variants,
                    "shares": shares,
                    "formulas": formulas,
                    "is_answer": np.array([bool(key) and key[:14] == answer for key in keys]),
                    "ion_mode": query.ion_mode,
                }
            )
            query.scores = variants["plain"] - SHIPPED_FRAGMENT_SCORING.weight * shares

    for module in list(sys.modules.values()):  # every caller of the scoring stage gets the replacement
        if getattr(module, "__name__", "").startswith("specvae") and hasattr(module, "score_queries"):
            module.score_queries = score_queries
    shipped = [SHIPPED / f"{mode}.specvae" for mode in modes]
    report = run_benchmark(data, model_paths=shipped, fingerprint_cache=str(runs / "casmi_fp.h5"), progress=False)
    ranked = [result for result in report.runs[0].results if result.rank is not None]
    plain = "/".join(str(sum(result.rank.within(k) for result in ranked)) for k in (1, 3, 10))
    print(f"<!-- the shipped pair through the benchmark's own ranking: {plain} -->")
    return [row for row in rows if row["is_answer"].any()]


def log_sum_exp(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return -np.inf
    top = finite.max()
    return float(top + np.log(np.exp(finite - top).sum()))


def formula_group_scores(row: dict, variant: str, weight: float, base: str = "plain", alpha: float = 1.0) -> np.ndarray:
    """Each candidate's score as log P(formula | spectrum) + log P(candidate | formula, spectrum).

    The formula term is the log-sum-exp of the ``base`` scores (fragment term included) over the candidates of that
    formula; the within-formula term is ``(1 - alpha) * base + alpha * variant`` normalised over the same candidates,
    so a formula whose prediction fits its own candidates well gains nothing from it (``alpha = 0`` gives the
    ``base`` ranking back). Candidates without a formula keep the base score.
    """
    plain = np.nan_to_num(row["variants"][base] - weight * row["shares"], nan=-np.inf)
    mixed = (1 - alpha) * row["variants"][base] + alpha * row["variants"][variant] if alpha else row["variants"][base]
    within = np.nan_to_num(mixed, nan=-np.inf)
    scores = plain.copy()
    formulas = np.array([formula or "" for formula in row["formulas"]], dtype=object)
    for formula in set(formulas) - {""}:
        members = np.flatnonzero(formulas == formula)
        normaliser = log_sum_exp(within[members])
        if np.isfinite(normaliser):
            scores[members] = log_sum_exp(plain[members]) + within[members] - normaliser
    return scores


ALPHAS = (0.1, 0.3, 0.5, 0.7, 1.0)


def print_alpha_grid(tables: dict, casmi: list[dict], weight: float, base: str) -> None:
    """Validation lists and CASMI 2016 for the within-formula mixtures of ``base`` with each formula variant."""
    print(f"\n| within each formula: (1 - alpha) × {base} + alpha × variant | alpha | val. pos. | val. neg. | CASMI |")
    print("|---|---|---|---|---|")
    print(
        f"| {base} alone | 0 | "
        + " | ".join(
            "/".join(map(str, top_counts_of(rows, lambda row: row_scores(row, base, weight))))
            for rows in (*tables.values(), casmi)
        )
        + " |"
    )
    for variant in ("formula", "formula + SVAE", "spectrum-free"):
        for alpha in ALPHAS:

            def scores_of(row, variant=variant, alpha=alpha):
                return formula_group_scores(row, variant, weight, base, alpha)

            counts = ["/".join(map(str, top_counts_of(rows, scores_of))) for rows in (*tables.values(), casmi)]
            print(f"| {variant} | {alpha} | " + " | ".join(counts) + " |")


def top_counts_of(rows: list[dict], scores_of) -> tuple[int, int, int]:
    """Answers within 1 / 3 / 10 by expected rank with the scores ``scores_of(row)`` gives."""
    from specvae.benchmark.metrics import answer_rank

    counts = np.zeros(3, dtype=int)
    for row in rows:
        rank = answer_rank(scores_of(row), np.asarray(row["is_answer"]))
        counts += [rank.within(k) for k in (1, 3, 10)]
    return tuple(int(count) for count in counts)


def evaluate(runs: Path, name: str = "formula_ff") -> None:
    weight = SHIPPED_FRAGMENT_SCORING.weight
    tables = {mode: validation_rows(runs, mode, runs / f"{name}_{mode}.pt") for mode in ("positive", "negative")}
    casmi = casmi_rows(runs, name)
    with open(runs / f"{name}_rows.pkl", "wb") as handle:
        pickle.dump({"validation": tables, "casmi": casmi}, handle)
    print_all(tables, casmi, weight)


def print_all(tables: dict, casmi: list[dict], weight: float) -> None:
    variants = ("plain", "formula", "formula + SVAE", "spectrum-free")
    variants += tuple(name for name in ("no-formula pair", "SVAE") if name in casmi[0]["variants"])
    print_tables(tables, casmi, weight, variants)
    bases = [base for base in ("plain", "no-formula pair", "SVAE") if base in casmi[0]["variants"]]
    for base in bases:
        print_alpha_grid(tables, casmi, weight, base)


def print_tables(tables: dict, casmi: list[dict], weight: float, variants: tuple[str, ...]) -> None:
    def cells(scores_of, oracle_scores_of):
        out = [f"{len(rows)} lists: " + "/".join(map(str, top_counts_of(rows, scores_of))) for rows in tables.values()]
        out.append("/".join(map(str, top_counts_of(casmi, scores_of))))
        out += ["/".join(map(str, top_counts_of(rows, oracle_scores_of))) for rows in (*tables.values(), casmi)]
        return out

    print(
        "| variant | validation lists pos. top-1/3/10 | neg. | CASMI 2016 top-1/3/10 "
        "| answer's formula only: val. pos. | val. neg. | CASMI |"
    )
    print("|---|---|---|---|---|---|---|")
    for variant in variants:
        row_cells = cells(
            lambda row, variant=variant: row_scores(row, variant, weight),
            lambda row, variant=variant: answer_formula_only(row, row_scores(row, variant, 0.0)),
        )
        print(f"| {variant} | " + " | ".join(row_cells) + " |")
    for variant in ("formula", "formula + SVAE", "spectrum-free"):
        row_cells = cells(
            lambda row, variant=variant: formula_group_scores(row, variant, weight),
            lambda row, variant=variant: answer_formula_only(row, formula_group_scores(row, variant, 0.0)),
        )
        print(f"| {variant}, normalised within each formula | " + " | ".join(row_cells) + " |")


def row_scores(row: dict, variant: str, weight: float) -> np.ndarray:
    return np.nan_to_num(row["variants"][variant] - weight * row["shares"], nan=-np.inf)


def answer_formula_only(row: dict, scores: np.ndarray) -> np.ndarray:
    """``scores`` with every candidate of a formula other than the answer's set to −inf."""
    answer_formulas = {f for f, answer in zip(row["formulas"], row["is_answer"], strict=True) if answer}
    return np.where([f in answer_formulas for f in row["formulas"]], scores, -np.inf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train_parser = commands.add_parser("train")
    train_parser.add_argument("training_set")
    train_parser.add_argument("ion_mode", choices=("positive", "negative"))
    train_parser.add_argument("output")
    train_parser.add_argument("--checkpoint-dir")
    train_parser.add_argument("--formula-dropout", type=float, default=0.0, help="share of rows trained without it")
    train_parser.add_argument("--pool", type=int, default=1, help="read groups of this many bins, summed")
    evaluate_parser = commands.add_parser("evaluate")
    evaluate_parser.add_argument("runs", type=Path)
    evaluate_parser.add_argument("--name", default="formula_ff", help="networks RUNS/NAME_{positive,negative}.pt")
    table_parser = commands.add_parser("table", help="print the tables again from RUNS/NAME_rows.pkl")
    table_parser.add_argument("runs", type=Path)
    table_parser.add_argument("--name", default="formula_ff")
    arguments = parser.parse_args()
    if arguments.command == "train":
        train(
            arguments.training_set, arguments.ion_mode, arguments.output, arguments.checkpoint_dir,
            arguments.formula_dropout, arguments.pool,
        )  # fmt: skip
    elif arguments.command == "evaluate":
        evaluate(arguments.runs, arguments.name)
    else:
        with open(arguments.runs / f"{arguments.name}_rows.pkl", "rb") as handle:
            saved = pickle.load(handle)
        print_all(saved["validation"], saved["casmi"], SHIPPED_FRAGMENT_SCORING.weight)


if __name__ == "__main__":
    main()
