"""Milliseconds per training step of each fusion model, side by side with the reference library (MultiVae).

Setup: batch 128, two 392-dimensional modalities (MNIST halves; also three modalities of
261/261/262), latent 16, encoders D→512→latent and decoders latent→512→D (MLPs), Gaussian likelihood, Adam.
Each step is forward + backward + optimiser step, with 0% and 50% of the samples missing one modality.

Why interleaved: these machines are shared, and the load changes from one minute to the next. mmcore's step and
MultiVae's step for the same (model, setup) run in the same process, on the same torch, alternating in rounds
of ``--steps-per-round`` steps (the order flips every round), so both see the same load. The table quotes the
median of every timed step of each, and as the speed-up the median over rounds of the per-round ratio
MultiVae/mmcore (a paired statistic: a load spike slows both sides of the round it falls in, not one library),
with the middle half of the per-round ratios as a noise gauge.
SVAE and VAEVAE have no MultiVae counterpart and are timed alone. Earlier recorded MultiVae step times are
compared too, but only the side-by-side ratio is robust to load.

Run with an interpreter that has both this project and MultiVae (see ``benchmarks/README.md``)::

    /work/multivae_venv/bin/python benchmarks/bench_train_step.py --threads 2,1 -o benchmarks/results/train_step.md

Without MultiVae (``--reference none``, or ``auto`` when it is not installed) only mmcore is timed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mmcore import Modality, build_model
from mmcore.likelihoods import GaussianLikelihood
from mmcore.models.base import UnpairedDataError
from mmcore.networks import MLP

# ms per step of a widely used multimodal VAE library (MultiVae) on exactly this setup on this kind of machine
# (two modalities, no missing data, 2 threads), as recorded earlier for MultiVae.
RECORDED_REFERENCE_MS = {"mvae": 24.9, "mopoe": 14.4, "mmvae": 72.5, "jmvae": 31.4}
TARGET_SPEEDUP = 1.5

MODEL_OPTIONS = {
    # No random-subset ELBOs (the paper's k = 0): the MultiVae side runs MVAE with k=0, so both sum the same ELBOs.
    "mvae": {"n_random_subsets": 0},
    "mopoe": {},
    "mmvae": {"estimator": "dreg", "n_importance_samples": 10},
    "jmvae": {},
    "svae": {},
    "vaevae": {},
}
SETUPS = ([392, 392], [261, 261, 262])
MISSING_SHARES = (0.0, 0.5)

Step = Callable[[], None]


def make_modalities(input_dims: list[int], latent_dim: int, hidden: int) -> list[Modality]:
    modalities = []
    for index, dim in enumerate(input_dims):
        encoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        decoder = MLP(latent_dim, [hidden], dim)
        modalities.append(Modality(f"m{index}", encoder, hidden, decoder, GaussianLikelihood()))
    return modalities


def make_batch(input_dims: list[int], batch_size: int, missing_share: float, seed: int):
    generator = torch.Generator().manual_seed(seed)
    data = {f"m{i}": torch.rand(batch_size, dim, generator=generator) for i, dim in enumerate(input_dims)}
    mask = {name: torch.ones(batch_size, dtype=torch.bool) for name in data}
    n_unpaired = int(round(missing_share * batch_size))
    # The unpaired samples each keep exactly one modality, assigned round-robin (the seed papers' protocol).
    for offset in range(n_unpaired):
        keep = offset % len(input_dims)
        for index, name in enumerate(data):
            if index != keep:
                mask[name][offset] = False
    return data, mask


OPTIMIZERS = ("adam", "fused-adam", "none")
STEP_TEXT = {
    "adam": "forward + backward + torch.optim.Adam update (default implementation)",
    "fused-adam": "forward + backward + torch.optim.Adam(fused=True) update",
    "none": "forward + backward only (no optimiser update)",
}


def training_step(model: nn.Module, compute_loss: Callable[[], torch.Tensor], optimizer_name: str = "adam") -> Step:
    """One training step (zero grad, loss, backward, update) as a closure, so both libraries are timed alike.

    ``optimizer_name``: ``"adam"`` is torch's default Adam (what both libraries' trainers build), ``"fused-adam"``
    its single-kernel variant, ``"none"`` times forward + backward alone (the part the model code decides).
    """
    if optimizer_name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer_name!r}")
    parameters = list(model.parameters())
    if optimizer_name == "none":

        def forward_backward() -> None:
            for parameter in parameters:
                parameter.grad = None
            compute_loss().backward()

        return forward_backward
    optimizer = torch.optim.Adam(parameters, lr=1e-4, fused=True if optimizer_name == "fused-adam" else None)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        compute_loss().backward()
        optimizer.step()

    return step


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@dataclass
class Contender:
    """A ready-to-time training step of one library, or why there is none (``step is None``)."""

    step: Step | None
    n_parameters: int = 0
    note: str = ""


def build_ours(name: str, input_dims: list[int], missing_share: float, args: argparse.Namespace) -> Contender:
    torch.manual_seed(args.seed)
    model = build_model(
        name, make_modalities(input_dims, args.latent_dim, args.hidden), args.latent_dim, **MODEL_OPTIONS[name]
    )
    data, mask = make_batch(input_dims, args.batch_size, missing_share, args.seed)
    step = training_step(model, lambda: model(data, mask).loss, args.optimizer)
    try:
        step()  # the first step also tells whether the model accepts unpaired samples
    except UnpairedDataError:
        return Contender(None, note="n/a (paired data only)")
    return Contender(step, count_parameters(model))


def build_reference(name: str, input_dims: list[int], missing_share: float, args: argparse.Namespace) -> Contender:
    if args.reference == "none":
        return Contender(None)
    import reference_multivae  # only importable where MultiVae is installed

    if name not in reference_multivae.REFERENCE_MODELS:
        return Contender(None)
    if missing_share > 0 and not reference_multivae.supports_missing(name):
        return Contender(None, note="n/a (paired data only)")
    torch.manual_seed(args.seed)
    dims = {f"m{i}": dim for i, dim in enumerate(input_dims)}
    model = reference_multivae.build_reference_model(name, dims, args.latent_dim, args.hidden, args.architectures)
    data, mask = make_batch(input_dims, args.batch_size, missing_share, args.seed)
    batch = reference_multivae.reference_batch(data, mask)
    step = training_step(model, lambda: reference_multivae.reference_loss(model, batch), args.optimizer)
    step()
    return Contender(step, count_parameters(model))


def time_interleaved(steps: list[Step], rounds: int, steps_per_round: int, warmup: int) -> list[list[list[float]]]:
    """Seconds per step of each contender, ``[contender][round][step]``, the contenders alternating by round.

    Warm-up steps run first for each; then every round times ``steps_per_round`` steps of each contender in turn,
    reversing the order every other round so that neither always runs just after the other.
    """
    for step in steps:
        for _ in range(warmup):
            step()
    durations: list[list[list[float]]] = [[[] for _ in range(rounds)] for _ in steps]
    for round_index in range(rounds):
        order = range(len(steps)) if round_index % 2 == 0 else reversed(range(len(steps)))
        for contender in order:
            step = steps[contender]
            for _ in range(steps_per_round):
                start = time.perf_counter()
                step()
                durations[contender][round_index].append(time.perf_counter() - start)
    return durations


def median_ms(rounds: list[list[float]]) -> float:
    return 1000.0 * statistics.median(duration for round_durations in rounds for duration in round_durations)


@dataclass
class Row:
    model: str
    n_modalities: int
    missing_share: float
    ours_ms: float | None
    reference_ms: float | None
    round_ratios: list[float]
    parameters: str
    note: str

    @property
    def ratio(self) -> float | None:
        """MultiVae/mmcore: the median of the per-round ratios (paired, so robust to load changing over time)."""
        return statistics.median(self.round_ratios) if self.round_ratios else None

    @property
    def recorded_reference_ms(self) -> float | None:
        paired_two = self.n_modalities == 2 and self.missing_share == 0.0
        return RECORDED_REFERENCE_MS.get(self.model) if paired_two else None


HEADER = (
    "| model | modalities | missing | mmcore ms | MultiVae ms | MultiVae / mmcore | middle half of round ratios | "
    "parameters mmcore / MultiVae | recorded figure ms | recorded figure / mmcore |"
)
RULE = "|---|---|---|---|---|---|---|---|---|---|"


def format_row(row: Row, comparable_to_recorded: bool = True) -> str:
    """One Markdown table row; the recorded figures only beside steps timed as they were (default Adam)."""

    def ms(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}"

    ours = row.note if row.ours_ms is None else ms(row.ours_ms)
    reference = ms(row.reference_ms) or (row.note if row.ours_ms is None else "")
    ratio = f"**{row.ratio:.2f}×**" if row.ratio is not None else ""
    spread = ""
    if len(row.round_ratios) >= 2:
        lower, _, upper = statistics.quantiles(row.round_ratios, n=4)
        spread = f"{lower:.2f}–{upper:.2f}"
    recorded = row.recorded_reference_ms if comparable_to_recorded else None
    recorded_ratio = f"{recorded / row.ours_ms:.2f}×" if recorded and row.ours_ms else ""
    return (
        f"| {row.model} | {row.n_modalities} | {row.missing_share:.0%} | {ours} | {reference} | {ratio} | {spread} | "
        f"{row.parameters} | {recorded or ''} | {recorded_ratio} |"
    )


def measure(name: str, input_dims: list[int], missing_share: float, args: argparse.Namespace) -> Row:
    ours = build_ours(name, input_dims, missing_share, args)
    reference = build_reference(name, input_dims, missing_share, args)
    contenders = [contender for contender in (ours, reference) if contender.step is not None]
    durations = time_interleaved([c.step for c in contenders], args.rounds, args.steps_per_round, args.warmup)
    timed = dict(zip([id(c) for c in contenders], durations, strict=True))
    ours_rounds, reference_rounds = timed.get(id(ours)), timed.get(id(reference))
    round_ratios = []
    if ours_rounds and reference_rounds:
        round_ratios = [
            statistics.median(theirs) / statistics.median(mine)
            for mine, theirs in zip(ours_rounds, reference_rounds, strict=True)
        ]
    parameters = str(ours.n_parameters) if ours.step else ""
    if reference.step is not None:
        parameters += f" / {reference.n_parameters}"
    return Row(
        model=name,
        n_modalities=len(input_dims),
        missing_share=missing_share,
        ours_ms=median_ms(ours_rounds) if ours_rounds else None,
        reference_ms=median_ms(reference_rounds) if reference_rounds else None,
        round_ratios=round_ratios,
        parameters=parameters,
        note=ours.note or reference.note,
    )


def resolve_reference(choice: str) -> str:
    """``auto`` becomes ``multivae`` where MultiVae imports, else ``none`` (with a note on stderr)."""
    if choice != "auto":
        return choice
    try:
        import reference_multivae  # noqa: F401
    except ImportError as error:
        print(f"MultiVae not importable ({error}); timing mmcore only", file=sys.stderr)
        return "none"
    return "multivae"


def library_versions(reference: str) -> str:
    text = f"torch {torch.__version__}"
    if reference == "multivae":
        from importlib.metadata import version

        text += f", multivae {version('multivae')}"
    return text


def summary_lines(rows: list[Row]) -> list[str]:
    """Which rows miss the 1.5× target (or are slower than MultiVae), for the reader and the report."""
    compared = [row for row in rows if row.ratio is not None]
    if not compared:
        return []
    slow = [row for row in compared if row.ratio < TARGET_SPEEDUP]
    if not slow:
        return [f"Every compared row is at least {TARGET_SPEEDUP}× faster than MultiVae side by side."]
    return [
        f"Below the {TARGET_SPEEDUP}× target side by side: "
        + ", ".join(
            f"{row.model} ({row.n_modalities} mod., {row.missing_share:.0%} missing): {row.ratio:.2f}×" for row in slow
        )
        + "."
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="2,1", help="comma-separated thread counts, one table each")
    parser.add_argument("--rounds", type=int, default=20, help="alternating rounds per (model, setup)")
    parser.add_argument("--steps-per-round", type=int, default=3, help="timed steps per contender per round")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps per contender before the rounds")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=",".join(MODEL_OPTIONS))
    parser.add_argument("--modalities", default="2,3", help="which setups: 2 (392+392) and/or 3 (261+261+262)")
    parser.add_argument("--reference", choices=("auto", "multivae", "none"), default="auto")
    parser.add_argument(
        "--architectures",
        choices=("matched", "library"),
        default="matched",
        help="MultiVae decoders and JMVAE joint encoder: layer-for-layer like ours, or MultiVae's defaults",
    )
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="adam",
        help="the update timed after backward, for both libraries alike (none: forward + backward only)",
    )
    parser.add_argument("-o", "--output", type=Path, help="write the Markdown tables here too")
    args = parser.parse_args()
    args.reference = resolve_reference(args.reference)
    wanted_setups = [dims for dims in SETUPS if str(len(dims)) in args.modalities.split(",")]

    sections = []
    for threads in (int(value) for value in args.threads.split(",")):
        torch.set_num_threads(threads)
        load_before = os.getloadavg()
        print(
            f"\n{threads} thread(s), load average {load_before[0]:.2f}; step: {STEP_TEXT[args.optimizer]}", flush=True
        )
        print(HEADER)
        print(RULE)
        rows = []
        for name in args.models.split(","):
            for input_dims in wanted_setups:
                for missing_share in MISSING_SHARES:
                    row = measure(name, input_dims, missing_share, args)
                    print(format_row(row, args.optimizer == "adam"), flush=True)
                    rows.append(row)
        load_after = os.getloadavg()
        for line in summary_lines(rows):
            print(line)
        sections.append((threads, load_before, load_after, rows))

    if args.output:
        write_report(args, sections)


def write_report(args: argparse.Namespace, sections) -> None:
    command = f"{sys.executable} benchmarks/bench_train_step.py {shlex.join(sys.argv[1:])}"
    n_timed = args.rounds * args.steps_per_round
    text = [
        "# Training step time per fusion model, side by side with MultiVae",
        "",
        f"Command: `{command}`",
        "",
        f"{library_versions(args.reference)}, {os.cpu_count()} CPU cores. Batch {args.batch_size}, latent "
        f"{args.latent_dim}, encoders D→{args.hidden}→latent, decoders latent→{args.hidden}→D, Gaussian likelihood "
        f"(unit scale); MMVAE with K=10 and DReG (looser bound, Gaussian posterior). A step is "
        f"{STEP_TEXT[args.optimizer]}, the same for both libraries. Each number is the median of {n_timed} steps "
        f"after {args.warmup} warm-up steps; mmcore and MultiVae alternate in {args.rounds} rounds of "
        f"{args.steps_per_round} steps in one process. MultiVae architectures: {args.architectures} (see "
        "benchmarks/reference_multivae.py). The speed-up is the median over rounds of the per-round ratio "
        "MultiVae/mmcore (each round's medians; a paired statistic, robust to the load changing between rounds), "
        "with the middle half (quartiles) of those ratios beside it. "
        "The recorded figures were measured at another time, under another load, so their ratio is only "
        "indicative; the side-by-side ratio is the one to trust.",
        "",
    ]
    for threads, load_before, load_after, rows in sections:
        text += [
            f"## {threads} thread(s)",
            "",
            f"Load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after.",
            "",
            HEADER,
            RULE,
            *(format_row(row, args.optimizer == "adam") for row in rows),
            "",
            *summary_lines(rows),
            "",
        ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(text))


if __name__ == "__main__":
    main()
