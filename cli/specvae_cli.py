"""The ``specvae`` command line: argument parsing only; the work is done by functions a notebook can call too."""

from __future__ import annotations

import json
import os
import shlex
import sys
from importlib import resources
from pathlib import Path

import click

from mmcore.interrupts import raise_on_sigterm
from specvae.matchms_import import defer_matchms_initialisation
from specvae_cli.cache_options import cache_error_message as _cache_error_message
from specvae_cli.cache_options import rebuild_cache_option, report_moved_aside
from specvae_cli.path_checks import check_output_paths
from specvae_cli.training_options import CALIBRATION_CHOICES, capacity_options, convergence_options

# Before any command imports matchms: its package initialisation (scikit-learn, pynndescent, networkx,
# matplotlib; about 4 s) then runs only if a command uses more of matchms than spectra and their filters.
defer_matchms_initialisation()

# Exit codes: 0 when the run finished, bad records included (they are reported on stderr and in --errors: a
# workflow engine treats 1 as failure, and one bad candidate among thousands is not a failed run); 1 for a run
# that could not finish, or with --strict for any bad record; 2 for usage errors (click's).
EXIT_RECORD_ERRORS = 1
EXIT_USAGE = 2
# The layout `prepare` and `fingerprint` use unless told otherwise: the shipped models' (a literal, so that
# `specvae --help` does not import RDKit to learn it; a test checks it against the shipped models).
DEFAULT_FINGERPRINT_PRESET = "keys"

fingerprint_option = click.option(
    "--fingerprint",
    "fingerprint_name",
    type=click.Choice(["fast", "keys"]),
    default=DEFAULT_FINGERPRINT_PRESET,
    show_default=True,
    help="Fingerprint layout: keys = MACCS + Morgan + functional groups (the shipped models'); fast = Morgan + atom "
    "pairs, about 5x cheaper to compute but ranks worse.",
)


def _report_moved_caches(cache) -> None:
    """Say on stderr which damaged caches ``--rebuild-cache`` moved aside (warnings may be filtered)."""
    if cache is not None:
        report_moved_aside(cache.path, cache.moved_aside)


def _example_path(name: str) -> Path:
    return Path(str(resources.files("specvae") / "examples" / name))


strict_option = click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when any record could not be processed (default: report bad records and exit 0).",
)


def _finish(errors, errors_path: str | None, strict: bool = False) -> None:
    """Report bad records on stderr and in the ``--errors`` file; exit 1 if there were any and ``strict``."""
    errors.print()
    if errors_path:
        errors.write_tsv(errors_path)
    if len(errors):
        where = f" and in {errors_path}" if errors_path else ""
        click.echo(f"{len(errors)} record(s) could not be processed (listed above{where}).", err=True)
        if strict:
            sys.exit(EXIT_RECORD_ERRORS)


@click.group()
@click.version_option(package_name="specvae")
def main() -> None:
    """Annotate MS/MS spectra with molecular structures using multimodal VAEs."""
    # A stopped job (kill, a batch scheduler's SIGTERM) unwinds like Ctrl-C: no temporary output is left behind.
    raise_on_sigterm()


@main.command()
@click.argument("spectra", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--candidates", "-c", type=click.Path(exists=True, dir_okay=False), help="SDF, SMILES list, or CSV/TSV.")
@click.option("--example", is_flag=True, help="Annotate the example spectra and candidates shipped with specvae.")
@click.option(
    "--model",
    "model_paths",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Model file(s); default: the shipped positive and negative mode models.",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default="-", show_default=True, help="Output file.")
@click.option("--format", "output_format", type=click.Choice(["tsv", "json"]), default="tsv", show_default=True)
@click.option("--top-k", type=int, default=10, show_default=True, help="Candidates per spectrum in the output.")
@click.option("--ppm", type=float, default=10.0, show_default=True, help="Mass tolerance of a candidate pool.")
@click.option(
    "--adduct",
    default=None,
    help='Adduct of every spectrum, or several separated by commas ("[M+H]+,[M+Na]+"): those of a spectrum\'s ion '
    "mode are each tried and the union ranked (default: the spectrum's, else [M+H]+/[M-H]-).",
)
@click.option(
    "--spectrum-id-column",
    default=None,
    help="Column of a CSV/TSV candidate table naming each row's spectrum (per-spectrum lists), when it is not "
    "spectrum_id, challenge or feature_id; without such a column the table is one pool filtered by mass.",
)
@click.option("--formula", default=None, help="Keep only candidates of this molecular formula (e.g. C10H12O3).")
@click.option("--elements", default=None, help="Keep only candidates made of these elements (e.g. CHNOPS).")
@click.option(
    "--collapse-stereo",
    is_flag=True,
    help="One row per InChIKey first block: stereoisomers score alike; the others are counted (n_stereoisomers).",
)
@click.option(
    "--explain",
    is_flag=True,
    help="For each reported candidate, the named fingerprint bits that most raised and lowered its score against "
    "the list's average candidate (TSV: supporting_bits, opposing_bits, top 5; JSON: all).",
)
@click.option("--fingerprint-cache", type=click.Path(dir_okay=False), help="HDF5 cache of candidate fingerprints.")
@rebuild_cache_option
@click.option("--workers", type=int, default=1, show_default=True, help="Processes computing fingerprints.")
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False), help="Write bad records to this TSV.")
@strict_option
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Annotate on a Dask cluster: a scheduler address (tcp://host:8786), or local:N for N worker processes on "
    "this machine. Needs `pip install specvae[distributed]` and a --fingerprint-cache every worker can read.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Spectra per Dask task (with --scheduler).",
)
def annotate(
    spectra,
    candidates,
    example,
    model_paths,
    output,
    output_format,
    top_k,
    ppm,
    adduct,
    spectrum_id_column,
    formula,
    elements,
    collapse_stereo,
    explain,
    fingerprint_cache,
    rebuild_cache,
    workers,
    errors_path,
    strict,
    scheduler,
    chunk_size,
) -> None:
    """Rank candidate structures for each spectrum in SPECTRA (MGF, MSP or mzML).

    Exit code 0 when the run finished (bad records are listed on stderr and in --errors), 1 when it could not
    finish or (--strict) when any record was bad, 2 for usage errors.
    """
    from specvae.annotator import Annotator, parse_adducts
    from specvae.candidates import candidate_filter, describe_table_columns
    from specvae.errors import ErrorReport, SpecvaeError
    from specvae.output import write_annotation_stream
    from specvae.spectra.textio import format_suffix

    if example:
        spectra = spectra or str(_example_path("example_spectra.mgf"))
        candidates = candidates or str(_example_path("example_candidates.csv"))
    if not spectra or not candidates:
        raise click.UsageError("give SPECTRA and --candidates, or --example")
    if scheduler and not fingerprint_cache:
        raise click.UsageError("--scheduler needs --fingerprint-cache: the workers read candidate fingerprints from it")
    if scheduler and explain:
        raise click.UsageError("--explain is not available with --scheduler: annotate without it to explain")
    try:
        adduct = parse_adducts(adduct)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--adduct") from error
    try:
        candidate_filter(formula, elements)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--formula/--elements") from error
    check_output_paths(
        {"SPECTRA": spectra, "--candidates": candidates, "--model": model_paths},
        {"--output": output, "--errors": errors_path},
        caches={"--fingerprint-cache": fingerprint_cache},
    )
    options = {"fingerprint_cache": fingerprint_cache, "n_workers": workers, "rebuild_cache": rebuild_cache}
    try:
        annotator = Annotator.load(list(model_paths), **options) if model_paths else Annotator.pretrained(**options)
        errors = ErrorReport()
        if format_suffix(candidates) in (".csv", ".tsv"):  # say which columns are read: a wrong guess is visible
            click.echo(f"candidates: {describe_table_columns(candidates, spectrum_id_column)}", err=True)
        arguments = {
            "top_k": top_k,
            "tolerance_ppm": ppm,
            "adduct": adduct,
            "errors": errors,
            "spectrum_id_column": spectrum_id_column,
            "formula": formula,
            "elements": elements,
            "collapse_stereo": collapse_stereo,
        }
        if scheduler:  # --explain is refused above: the explanation is made where the molecules are
            try:
                from specvae.distributed import annotate_distributed
            except ImportError as error:  # the message says: pip install specvae[distributed]
                raise click.ClickException(str(error)) from error
            results = annotate_distributed(
                annotator, spectra, candidates, scheduler=scheduler, chunk_size=chunk_size, **arguments
            )
            n_annotated = write_annotation_stream(results, output, output_format)
        else:  # each spectrum's rows reach the (temporary) output file as soon as it is ranked
            annotations = annotator.iter_annotations(spectra, candidates, explain=explain, **arguments)
            n_annotated = write_annotation_stream(annotations, output, output_format, explained=explain)
    except (SpecvaeError, ValueError, OSError) as error:
        raise click.ClickException(_cache_error_message(error)) from error
    _report_moved_caches(annotator.fingerprint_cache)
    if output != "-":
        click.echo(f"{n_annotated} spectra annotated -> {output}", err=True)
    _finish(errors, errors_path, strict)


@main.command()
@click.argument("spectra", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", "model_paths", multiple=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="HDF5 file to write.")
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False))
@strict_option
def predict(spectra, model_paths, output, errors_path, strict) -> None:
    """Write predicted fingerprint probabilities of SPECTRA to an HDF5 file."""
    from specvae.annotator import Annotator
    from specvae.errors import ErrorReport
    from specvae.model_file import ModelFileError
    from specvae.output import write_predictions

    check_output_paths({"SPECTRA": spectra, "--model": model_paths}, {"--output": output, "--errors": errors_path})
    try:
        annotator = Annotator.load(list(model_paths)) if model_paths else Annotator.pretrained()
    except ModelFileError as error:
        raise click.ClickException(str(error)) from error
    errors = ErrorReport()
    predictions = annotator.predict_fingerprint_by_mode(spectra, errors)
    write_predictions(predictions, annotator, output)
    click.echo(f"{sum(len(p) for p in predictions.values())} spectra -> {output}", err=True)
    _finish(errors, errors_path, strict)


@main.command()
@click.argument("candidates", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="HDF5 fingerprint cache.")
@rebuild_cache_option
@click.option("--workers", type=int, default=1, show_default=True)
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False))
@strict_option
@fingerprint_option
def fingerprint(candidates, output, rebuild_cache, workers, errors_path, strict, fingerprint_name) -> None:
    """Precompute the fingerprints of CANDIDATES into a cache keyed by InChIKey."""
    from specvae.errors import ErrorReport
    from specvae.fingerprints import FingerprintCacheError, fingerprint_preset
    from specvae.pipeline.precompute import precompute_fingerprints

    check_output_paths({"CANDIDATES": candidates}, {"--output": output, "--errors": errors_path})
    errors = ErrorReport()
    try:
        cache, found = precompute_fingerprints(
            candidates,
            output,
            fingerprint_preset(fingerprint_name),
            errors,
            n_workers=workers,
            rebuild_cache=rebuild_cache,
        )
    except FingerprintCacheError as error:
        raise click.ClickException(_cache_error_message(error)) from error
    _report_moved_caches(cache)
    click.echo(f"{len(found.row_of)} fingerprints in {output} ({found.n_computed} computed now)", err=True)
    _finish(errors, errors_path, strict)


@main.command()
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the full metadata as JSON.")
def info(model_path, as_json) -> None:
    """Show what a model file holds: architecture, bin grid, fingerprint, training data and metrics."""
    from specvae.model_file import ModelFileError, read_metadata
    from specvae.output import describe_model

    try:
        metadata = read_metadata(model_path)
    except ModelFileError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(json.loads(metadata.to_json()), indent=2) if as_json else describe_model(metadata))


@main.command()
@click.argument("spectrum_files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="Training set (HDF5).")
@click.option(
    "--exclude-structures",
    type=click.Path(exists=True, dir_okay=False),
    help="InChIKeys (or a CSV with an INCHIKEY column) whose first blocks are left out.",
)
@click.option("--all-licenses", is_flag=True, help="Keep records under any license (default: redistributable only).")
@click.option("--bin-width", type=float, default=0.1, show_default=True, help="Bin width in Da.")
@click.option("--max-mz", type=float, default=1000.0, show_default=True, help="Upper end of the bin grid in Da.")
@click.option(
    "--neutral-loss-max",
    type=float,
    default=0.0,
    show_default=True,
    help="Also bin each peak's neutral loss (precursor m/z - peak m/z) below this many Da; 0: fragments only.",
)
@click.option(
    "--precursor-bin-width",
    type=float,
    default=0.0,
    show_default=True,
    help="Also give the network the precursor m/z, on a grid of this many Da over [0, --max-mz) (split between "
    "the two nearest bins); 0: not an input.",
)
@click.option(
    "--intensity-transform",
    type=click.Choice(["sqrt", "log1p", "none"]),
    default="sqrt",
    show_default=True,
    help="Applied to each bin's summed intensity (peaks already scaled to a highest peak of 1 by cleaning), before "
    "the bins are scaled to a highest bin of 1.",
)
@click.option("--validation-fraction", type=float, default=0.1, show_default=True)
@click.option("--test-fraction", type=float, default=0.1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=int, default=1, show_default=True)
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False))
@click.option(
    "--merge-collision-energies",
    is_flag=True,
    help="Also train on one spectrum per training structure, adduct and instrument type that merges its "
    "collision energies (as a stepped-energy acquisition records them); validation and test keep single spectra.",
)
@fingerprint_option
def prepare(
    spectrum_files,
    output,
    exclude_structures,
    all_licenses,
    bin_width,
    max_mz,
    neutral_loss_max,
    precursor_bin_width,
    intensity_transform,
    validation_fraction,
    test_fraction,
    seed,
    workers,
    errors_path,
    merge_collision_energies,
    fingerprint_name,
) -> None:
    """Build a training set from spectrum files with structures (e.g. MassBank MGF, gzip allowed)."""
    from specvae.errors import ErrorReport
    from specvae.fingerprints import fingerprint_preset
    from specvae.spectra.binning import SpectrumBinner
    from specvae.training_set_writer import REDISTRIBUTABLE_LICENSES, prepare_training_set, read_structure_list

    check_output_paths(
        {"SPECTRUM_FILES": spectrum_files, "--exclude-structures": exclude_structures},
        {"--output": output, "--errors": errors_path},
    )
    errors = ErrorReport()
    excluded = read_structure_list(exclude_structures) if exclude_structures else set()
    summary = prepare_training_set(
        spectrum_files,
        output,
        binner=SpectrumBinner(
            bin_width_da=bin_width,
            max_mz_da=max_mz,
            neutral_loss_max_da=neutral_loss_max,
            precursor_bin_width_da=precursor_bin_width,
            intensity_transform=intensity_transform,
        ),
        fingerprint=fingerprint_preset(fingerprint_name),
        exclude_inchikey14=excluded,
        licenses=None if all_licenses else REDISTRIBUTABLE_LICENSES,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
        n_workers=workers,
        errors=errors,
        merge_collision_energies=merge_collision_energies,
    )
    click.echo(json.dumps(summary.__dict__, indent=2), err=True)
    if errors_path:
        errors.write_tsv(errors_path)


@main.command()
@click.argument("training_set", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="Model file to write.")
@click.option("--mode", "ion_mode", type=click.Choice(["positive", "negative"]), default="positive", show_default=True)
@click.option("--fusion", default="svae", show_default=True, help="Fusion model (see `mmcore models`).")
@click.option(
    "--weighting",
    type=click.Choice(["sample", "paper"]),
    default="sample",
    show_default=True,
    help="SVAE/VAEVAE family: every sample weighs 1/batch size (sample), or the paired, fingerprint-only and "
    "spectrum-only samples' averages weigh alike (paper, eq. 22 of the SVAE journal paper).",
)
@click.option("--latent-dim", type=int, default=64, show_default=True)
@click.option("--hidden-dim", type=int, default=192, show_default=True)
@click.option(
    "--spectrum-reconstruction-pool",
    type=int,
    default=1,
    show_default=True,
    help="Reconstruct the spectrum on groups of this many bins (cheaper steps; the encoder still reads every bin).",
)
@capacity_options
@convergence_options
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--learning-rate", type=float, default=1e-3, show_default=True)
@click.option("--beta", type=float, default=1.0, show_default=True)
@click.option("--beta-warmup-epochs", type=float, default=5.0, show_default=True)
@click.option("--min-bit-count", type=int, default=10, show_default=True, help="Keep bits set in this many structures.")
@click.option(
    "--unpaired-smiles",
    type=click.Path(exists=True, dir_okay=False),
    help="Extra molecules without spectra, one SMILES a line (first field; .gz read; a 'SMILES' header skipped). "
    "Structures of the training set or excluded from it are left out; every one used is listed in the model file.",
)
@click.option("--checkpoint-dir", type=click.Path(file_okay=False), help="Resumable checkpoints and logs.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--num-threads", type=int, default=None, help="torch threads (default: torch's choice).")
def train(
    training_set,
    output,
    ion_mode,
    fusion,
    weighting,
    latent_dim,
    hidden_dim,
    spectrum_reconstruction_pool,
    depth,
    batch_norm,
    dropout,
    epochs,
    early_stopping_patience,
    lr_decay_patience,
    calibration,
    batch_size,
    learning_rate,
    beta,
    beta_warmup_epochs,
    min_bit_count,
    unpaired_smiles,
    checkpoint_dir,
    seed,
    device,
    num_threads,
) -> None:
    """Train a spectrum↔fingerprint model on one ion mode of TRAINING_SET."""
    import torch

    from mmcore.training.checkpoint import CheckpointError
    from specvae.smiles_files import read_smiles_file
    from specvae.training import SAMPLE_WEIGHTED_FUSIONS, TrainingOptions, train_specvae_model

    if weighting != "sample" and fusion not in SAMPLE_WEIGHTED_FUSIONS:
        families = ", ".join(SAMPLE_WEIGHTED_FUSIONS)
        raise click.BadParameter(f"only {families} have a weighting", param_hint="--weighting")

    check_output_paths(
        {"TRAINING_SET": training_set, "--unpaired-smiles": unpaired_smiles},
        {"--output": output},
        directories={"--checkpoint-dir": checkpoint_dir},
    )
    if num_threads:
        torch.set_num_threads(num_threads)
    smiles = read_smiles_file(unpaired_smiles) if unpaired_smiles else []
    options = TrainingOptions(
        ion_mode=ion_mode,
        fusion=fusion,
        fusion_options={"weighting": weighting} if fusion in SAMPLE_WEIGHTED_FUSIONS else {},
        latent_dim=latent_dim,
        hidden_dim=hidden_dim,
        spectrum_reconstruction_pool=spectrum_reconstruction_pool,
        depth=depth,
        batch_norm=batch_norm,
        dropout=dropout,
        epochs=epochs,
        early_stopping_patience=early_stopping_patience,
        lr_decay_patience=lr_decay_patience,
        calibration=calibration,
        batch_size=batch_size,
        learning_rate=learning_rate,
        beta=beta,
        beta_warmup_epochs=beta_warmup_epochs,
        min_bit_count=min_bit_count,
        seed=seed,
        device=device,
    )
    try:
        record = train_specvae_model(
            training_set, output, options, smiles, checkpoint_dir, command="specvae " + shlex.join(sys.argv[1:])
        )
    except CheckpointError as error:
        raise click.ClickException(str(error)) from error
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports for all
        return
    if "unpaired_molecules" in record:
        click.echo(record["unpaired_molecules"], err=True)
    click.echo(
        f"best epoch {record['best_epoch']}: "
        + ", ".join(f"{k}={v:.4g}" for k, v in record["validation_metrics"].items())
        + f"; {record['seconds']} s -> {output}",
        err=True,
    )


@main.command()
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.argument("training_set", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="Calibrated model file to write.")
@click.option(
    "--kind",
    type=click.Choice(CALIBRATION_CHOICES),
    default="temperature",
    show_default=True,
    help="temperature: honest probabilities, rankings unchanged; platt and bit-temperature re-weigh the bits.",
)
def calibrate(model_path, training_set, output, kind) -> None:
    """Calibrate MODEL_PATH's predicted bits on the validation spectra of TRAINING_SET (the set it was trained on)."""
    from specvae.training import calibrate_model_file

    report = calibrate_model_file(model_path, training_set, output, kind, command="specvae " + shlex.join(sys.argv[1:]))
    click.echo(json.dumps(report, indent=2), err=True)


@main.command()
@click.argument("members", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="Ensemble model file to write.")
@click.option(
    "--training-set",
    type=click.Path(exists=True, dir_okay=False),
    help="The training set the members were trained on: measures the ensemble's validation retrieval.",
)
def ensemble(members, output, training_set) -> None:
    """Combine trained MEMBERS (same ion mode, training set and kept bits) into one model file whose prediction is
    the average of the members' bit probabilities (members that read molecular formulas predict under the
    candidates' formulas instead); an ensemble given as a member adds its members. Use it wherever a model file is
    taken."""
    from specvae.ensemble import build_ensemble
    from specvae.errors import SpecvaeError

    check_output_paths({"MEMBERS": members, "--training-set": training_set}, {"--output": output})
    try:
        metadata = build_ensemble(
            members, output, training_set=training_set, command="specvae " + shlex.join(sys.argv[1:])
        )
    except SpecvaeError as error:
        raise click.ClickException(str(error)) from error
    metrics = metadata.training.get("validation_metrics")
    summary = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()) if metrics else "not measured (no --training-set)"
    click.echo(f"{len(metadata.architecture.members)} members -> {output}; validation {summary}", err=True)


@main.command("fit-confidence")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.argument("training_set", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="Model file to write.")
@click.option(
    "--n-nearest", type=click.IntRange(min=2), default=256, show_default=True, help="Candidates per spectrum."
)
@click.option("--max-spectra", type=click.IntRange(min=1), default=5000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--spectra",
    "spectrum_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The spectrum files TRAINING_SET was prepared from (needed for a model with a fragment-formula weight).",
)
def fit_confidence(model_path, training_set, output, n_nearest, max_spectra, seed, spectrum_files) -> None:
    """Fit MODEL_PATH's annotation confidence on the validation spectra of TRAINING_SET (the set it was trained
    on), each ranked against the N nearest structures by mass, and write the model with it to --output."""
    from specvae.confidence import ConfidenceError, add_confidence_to_model_file, fit_confidence_on_training_set
    from specvae.errors import SpecvaeError

    check_output_paths(
        {"MODEL_PATH": model_path, "TRAINING_SET": training_set, "--spectra": spectrum_files}, {"--output": output}
    )
    try:
        confidence, report = fit_confidence_on_training_set(
            model_path,
            training_set,
            n_nearest=n_nearest,
            max_spectra=max_spectra,
            seed=seed,
            spectrum_files=spectrum_files,
        )
        report["command"] = "specvae " + shlex.join(sys.argv[1:])
        add_confidence_to_model_file(model_path, output, confidence, report)
    except (ConfidenceError, SpecvaeError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps({**confidence.to_dict(), **report}, indent=2), err=True)


@main.command("fit-fragment-weight")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.argument("training_set", type=click.Path(exists=True, dir_okay=False))
@click.argument("spectrum_files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="Model file to write.")
@click.option(
    "--n-nearest", type=click.IntRange(min=2), default=256, show_default=True, help="Candidates per spectrum."
)
@click.option("--max-spectra", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--ppm",
    "ppm_grid",
    type=click.FloatRange(min=0, min_open=True),
    multiple=True,
    default=(5.0, 10.0),
    show_default=True,
    help="Fragment m/z tolerances to choose from (repeat the option); each at least what it gives at m/z 200.",
)
def fit_fragment_weight(
    model_path, training_set, spectrum_files, output, n_nearest, max_spectra, seed, ppm_grid
) -> None:
    """Choose how much the fragments a candidate's formula cannot explain lower its score, and the fragment m/z
    tolerance, on the validation spectra of TRAINING_SET (read from SPECTRUM_FILES, the files it was prepared from),
    and write the model with them to --output. A fitted confidence is dropped: fit it again (fit-confidence
    --spectra)."""
    from specvae.confidence import METADATA_KEY as CONFIDENCE_KEY
    from specvae.errors import SpecvaeError
    from specvae.fragment_formulas import METADATA_KEY
    from specvae.fragment_weight_fit import fit_fragment_weight_on_training_set
    from specvae.model_file import with_training_entry

    check_output_paths(
        {"MODEL_PATH": model_path, "TRAINING_SET": training_set, "SPECTRUM_FILES": spectrum_files}, {"--output": output}
    )
    try:
        scoring, report = fit_fragment_weight_on_training_set(
            model_path,
            training_set,
            spectrum_files,
            n_nearest=n_nearest,
            max_spectra=max_spectra,
            seed=seed,
            ppm_grid=ppm_grid,
        )
        report["command"] = "specvae " + shlex.join(sys.argv[1:])
        entry = {**scoring.to_dict(), **report}
        with_training_entry(model_path, output, METADATA_KEY, entry, drop=(CONFIDENCE_KEY,))
    except SpecvaeError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(entry, indent=2), err=True)


@main.command("fit-formula-weight")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.argument("training_set", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--isomers",
    "library",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="Structure library the isomer decoys come from: one SMILES a line, optionally gzip (e.g. MOSES train.csv.gz).",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="Model file to write.")
@click.option("--n-isomers", type=click.IntRange(min=1), default=99, show_default=True, help="Decoys per spectrum.")
@click.option("--max-spectra", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def fit_formula_weight(model_path, training_set, library, output, n_isomers, max_spectra, seed) -> None:
    """Choose how far each formula's candidates are ranked by the prediction made under that formula (a model with a
    network that reads formulas), on the validation spectra of TRAINING_SET each ranked against database isomers of
    its structure from --isomers, and write the model with it to --output. A fitted confidence is dropped: fit it
    again (fit-confidence)."""
    from specvae.confidence import METADATA_KEY as CONFIDENCE_KEY
    from specvae.errors import SpecvaeError
    from specvae.formula_conditioning import METADATA_KEY
    from specvae.formula_weight_fit import fit_formula_weight as fit
    from specvae.model_file import with_training_entry
    from specvae.smiles_files import read_smiles_file

    check_output_paths(
        {"MODEL_PATH": model_path, "TRAINING_SET": training_set, "--isomers": library}, {"--output": output}
    )
    try:
        conditioning, report = fit(
            model_path, training_set, read_smiles_file(library), n_isomers=n_isomers, max_spectra=max_spectra,
            seed=seed,
        )  # fmt: skip
        report["command"] = "specvae " + shlex.join(sys.argv[1:])
        entry = {**conditioning.to_dict(), **report}
        with_training_entry(model_path, output, METADATA_KEY, entry, drop=(CONFIDENCE_KEY,))
    except SpecvaeError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(entry, indent=2), err=True)


def _register_subcommands() -> None:
    # `specvae benchmark` lives in its own module; it only parses arguments for specvae.benchmark.
    from specvae_cli.specvae_benchmark_cli import benchmark

    main.add_command(benchmark)


_register_subcommands()

if __name__ == "__main__":
    main()
