"""Writing results: annotation tables (TSV/JSON), predicted fingerprints (HDF5), model descriptions."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Iterable
from typing import TextIO

import h5py
import numpy as np

from mmcore.atomic import atomic_output
from specvae.architecture import ArchitectureConfig
from specvae.model_file import ModelMetadata

OUTPUT_COLUMNS = (
    "spectrum_id",
    "rank",
    "score",
    "confidence",  # rank-1 rows: calibrated probability that the rank-1 skeleton is right (empty: no fit)
    "identifier",
    "name",
    "inchikey",
    "inchikey14",  # the InChIKey's first block: stereoisomers share it
    "n_stereoisomers",  # candidates sharing this InChIKey first block (with --collapse-stereo, one row for all)
    "smiles",
    "molecular_formula",
    "adduct",  # the adduct the candidate's mass was matched under
    "precursor_mz",
    "retention_time",  # as the spectrum file states it (empty when it has none)
    "mass_error_ppm",
    "n_candidates",
    "binned_intensity_fraction",  # share of the spectrum's intensity inside the model's bin range
    "status",  # ok, or why a spectrum has no ranked candidate (no_candidates, no_fingerprints)
)

EXPLANATION_COLUMNS = (
    # With --explain / explain=True (specvae.explanation): score = baseline_score + the contributions listed in
    # supporting_bits and opposing_bits + other_bits_score + fragment_formula_score
    # + formula_conditioning_score. Contributions are relative to
    # the average candidate of the spectrum's list, whose fingerprint score is baseline_score.
    "baseline_score",
    "supporting_bits",  # up to 5 bits that most raised the score: "label (+1.23); label (+0.98)"
    "opposing_bits",  # up to 5 bits that most lowered it: "label (-1.10); ..."
    "other_bits_score",  # what the other bits add up to
    "fragment_formula_score",  # the fragment-formula term (0 for a model without one)
    "formula_conditioning_score",  # what scoring under the candidate's own formula changed (0 without)
)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def annotations_to_tsv(rows: list[dict], columns: tuple[str, ...] = OUTPUT_COLUMNS) -> str:
    """The annotation rows as a tab-separated table with a header (column names as SIRIUS/MetFrag users know)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in columns])
    return buffer.getvalue()


def write_annotations(results, path: str | os.PathLike[str], output_format: str = "tsv") -> None:
    """Write the results to ``path`` atomically (``"-"``: standard output). Explained results (``explained``) get
    the explanation's summary columns in TSV and its full lists (``"explanation"``) in JSON."""
    write_annotation_stream(results, path, output_format, explained=getattr(results, "explained", False))


def write_annotation_stream(
    annotations: Iterable, path: str | os.PathLike[str], output_format: str = "tsv", *, explained: bool = False
) -> int:
    """Write :class:`~specvae.pipeline.SpectrumAnnotation` objects as they come (e.g. from
    :meth:`~specvae.Annotator.iter_annotations`); returns how many had ranked candidates.

    Why a stream: each spectrum's rows reach the file as soon as the spectrum is ranked, so that a long run shows
    its first results early. The rows go to a temporary file beside ``path`` that replaces it only when the last
    spectrum is written: ``path`` is never left half-written, and a failed run leaves it as it was (``"-"``:
    standard output, written as it comes). The bytes are those of the whole table written at once
    (:func:`annotations_to_tsv`, or one JSON array with an indent of 1); ``explained`` adds the explanation's
    columns as :func:`write_annotations` says.
    """
    if output_format not in ("tsv", "json"):
        raise ValueError(f"unknown output format {output_format!r}; expected 'tsv' or 'json'")
    if str(path) == "-":
        return _write_stream(annotations, sys.stdout, output_format, explained)
    with atomic_output(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        return _write_stream(annotations, handle, output_format, explained)


def _write_stream(annotations: Iterable, handle: TextIO, output_format: str, explained: bool) -> int:
    n_annotated = n_written = 0
    if output_format == "tsv":
        columns = OUTPUT_COLUMNS + EXPLANATION_COLUMNS if explained else OUTPUT_COLUMNS
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
    else:
        handle.write("[")
    handle.flush()
    for annotation in annotations:
        n_annotated += bool(annotation.ranked)
        if output_format == "tsv":
            for row in annotation.output_rows():
                values = row.as_dict(explained)
                writer.writerow([_cell(values[column]) for column in columns])
        else:
            entry = json.dumps(_json_annotation(annotation, explained), indent=1)
            # As json.dumps(whole list, indent=1) writes it: each entry on new lines, indented one more level.
            handle.write((",\n" if n_written else "\n") + "\n".join(" " + line for line in entry.split("\n")))
        n_written += 1
        handle.flush()
    if output_format == "json":
        handle.write("\n]" if n_written else "]")
    return n_annotated


def _json_annotation(annotation, explained: bool) -> dict:
    return {
        "spectrum_id": annotation.spectrum_id,
        "ion_mode": annotation.ion_mode,
        "n_candidates": annotation.n_candidates,
        "status": annotation.status,
        "candidates": [_json_candidate(row, explained) for row in annotation.ranked],
    }


def _json_candidate(row, explained: bool) -> dict:
    candidate = row.as_dict()
    if explained:
        candidate["explanation"] = None if row.explanation is None else row.explanation.as_dict()
    return candidate


def write_predictions(
    predictions_by_mode: dict[str, dict[str, np.ndarray]], annotator, path: str | os.PathLike[str]
) -> None:
    """Predicted probabilities, one HDF5 group per ion mode (each mode's model has its own kept bits)."""
    with atomic_output(path) as temporary, h5py.File(temporary, "w") as handle:
        string = h5py.string_dtype("utf-8")
        for mode, predictions in predictions_by_mode.items():
            loaded = annotator.models[mode]
            identifiers = list(predictions)
            width = loaded.fingerprint.n_kept_bits
            group = handle.create_group(mode)
            group.create_dataset("spectrum_id", data=np.array(identifiers, dtype=object), dtype=string)
            matrix = np.stack([predictions[key] for key in identifiers]) if identifiers else np.zeros((0, width))
            group.create_dataset("probabilities", data=matrix.astype(np.float32), compression="gzip")
            names = np.array(loaded.fingerprint.kept_bit_names(), dtype=object)
            group.create_dataset("bit_names", data=names, dtype=string)
            group.attrs["model"] = loaded.path


def _metrics_text(metrics: dict | None) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in (metrics or {}).items())


def _describe_training(training: dict, indent: str = "") -> list[str]:
    summary = training.get("unpaired_molecules")
    unpaired = [f"{indent}unpaired:      {summary}"] if summary else []
    return [
        f"{indent}trained on:    {training.get('sources')} ({training.get('n_training_spectra')} spectra, "
        f"{training.get('n_training_structures')} structures; licenses {training.get('licenses')})",
        *unpaired,
        f"{indent}best epoch:    {training.get('best_epoch')}; validation "
        + _metrics_text(training.get("validation_metrics")),
        f"{indent}command:       {training.get('command')} ({training.get('seconds')} s)",
    ]


def _describe_network(architecture: ArchitectureConfig) -> str:
    formula = ", reads the molecular formula" if architecture.formula_features else ""
    pool = f", bins read in groups of {architecture.input_pool}" if architecture.input_pool > 1 else ""
    extras = [f"{architecture.depth} decoder layers"] if architecture.depth > 1 else []
    extras += ["batch norm"] if architecture.batch_norm else []
    extras += [f"dropout {architecture.dropout:g}"] if architecture.dropout else []
    shape = "".join(f", {extra}" for extra in extras)
    return (
        f"{architecture.fusion} (latent {architecture.latent_dim}, hidden {architecture.hidden_dim}{shape}{formula}"
        f"{pool})"
    )


def describe_model(metadata: ModelMetadata) -> str:
    """A few human-readable lines about a model file (``specvae info``); an ensemble lists how each member was
    trained."""
    architecture = metadata.architecture
    training = metadata.training
    fingerprint = metadata.fingerprint
    members = [ArchitectureConfig.from_dict(member) for member in architecture.members]
    network = (
        f"ensemble of {len(members)}: " + ", ".join(_describe_network(member) for member in members)
        if members
        else _describe_network(architecture)
    )
    lines = [
        f"ion mode:      {metadata.ion_mode}",
        f"fusion model:  {network}",
        f"spectrum bins: {metadata.binning.get('n_bins')} × {metadata.binning.get('bin_width_da')} Da "
        f"up to {metadata.binning.get('max_mz_da')} Da, {metadata.binning.get('intensity_transform')} intensities",
        f"fingerprint:   {', '.join(fingerprint.get('components', []))}; {architecture.n_fingerprint_bits} bits kept",
    ]
    if metadata.binning.get("neutral_loss_max_da"):
        lines.insert(3, f"               + neutral losses below {metadata.binning['neutral_loss_max_da']} Da")
    if metadata.binning.get("precursor_bin_width_da"):
        precursor_line = f"               + the precursor m/z on {metadata.binning['precursor_bin_width_da']} Da bins"
        lines.insert(4 if metadata.binning.get("neutral_loss_max_da") else 3, precursor_line)
    pools = {member.spectrum_reconstruction_pool for member in members or [architecture]} - {1}
    if pools:
        lines.insert(2, f"               spectrum reconstructed on groups of {'/'.join(map(str, sorted(pools)))} bins")
    if members:
        lines += [
            _describe_training(training)[0],
            "validation:    " + _metrics_text(training.get("validation_metrics")),
            f"structures:    {len(training.get('structures_inchikey14', []))} InChIKey first blocks listed, all "
            "members together (checked against benchmark answers)",
            f"command:       {training.get('command')}",
        ]
        for index, member in enumerate(training.get("members", []), start=1):
            lines.append(f"member {index}:      {member.get('file')} ({member.get('fusion')})")
            lines += _describe_training(member.get("training", {}), indent="  ")
    elif training:
        described = _describe_training(training)
        lines += [
            *described[:2],
            f"structures:    {len(training.get('structures_inchikey14', []))} InChIKey first blocks listed "
            f"(checked against benchmark answers)",
            described[2],
        ]
    return "\n".join(lines + _describe_ranking(training))


def _describe_ranking(training: dict) -> list[str]:
    """How the ranking was fitted after training: the fragment-formula weight and the rank-1 confidence, with the
    validation figures they were chosen on (nothing for a file without them)."""
    lines = []
    fragments = training.get("fragment_formulas")
    if fragments:
        chosen_ppm = fragments.get("ppm")
        grid = {row["weight"]: row for row in fragments.get("grid", []) if row.get("ppm", chosen_ppm) == chosen_ppm}
        chosen, alone = grid.get(fragments["weight"]), grid.get(0.0)
        gain = f": top-1 {alone['top1']:.3f} -> {chosen['top1']:.3f}" if chosen and alone else ""
        rule = ", possible ions only" if fragments.get("possible_ions_only") else ""
        lines.append(
            f"fragments:     formula weight {fragments['weight']:g} ({fragments.get('ppm'):g} ppm, "
            f"≥ {fragments.get('min_tolerance_da'):g} Da{rule}), chosen on {fragments.get('n_spectra')} "
            f"{fragments.get('fitted_on')} vs {fragments.get('n_nearest')} nearest{gain}"
        )
    conditioning = training.get("formula_conditioning")
    if conditioning:
        table = {row["weight"]: row for row in conditioning.get("table", [])}
        chosen, alone = table.get(conditioning["weight"]), table.get(0.0)
        gain = f": top-1 {alone['top1']:.3f} -> {chosen['top1']:.3f}" if chosen and alone else ""
        lines.append(
            f"formulas:      each formula's candidates ranked with weight {conditioning['weight']:g} on the prediction "
            f"under that formula, chosen on {conditioning.get('chosen_on')}{gain}"
        )
    confidence = training.get("confidence")
    if confidence:
        loss, constant = confidence.get("log_loss", float("nan")), confidence.get("log_loss_constant", float("nan"))
        lines.append(
            f"confidence:    fitted on {confidence.get('n_spectra')} {confidence.get('fitted_on')}: log-loss "
            f"{loss:.3f} (constant {constant:.3f})"
        )
    return lines
