"""Coherence: do generated modalities show the class of the data they were generated from?

An oracle (:mod:`mmcore.metrics.oracles`) classifies generated data; coherence is the fraction it assigns to
the right class. The variants follow the multimodal-VAE literature:

* joint coherence (Shi et al. 2019): every modality generated from one z drawn from the prior; the fraction of
  samples on which all oracles agree;
* cross coherence: a target modality generated from a source subset; accuracy against the source's label;
* synergy: the target generated from all other modalities together;
* coherence by subset size (Sutter et al. 2021, PolyMNIST): cross coherence averaged over every subset of
  each size and every target outside it;
* the MNIST-Split accuracies of Kutuzova et al. 2021 (:func:`mnist_split_accuracy`).

Every function uses only the :class:`~mmcore.models.base.MultimodalVAE` interface (``posterior``,
``decode_mean``, ``generate``) and returns a plain ``dict[str, float]``. A sample takes part when it has every
source modality (its mask) and a label; the generated data is each likelihood's mean. With
``sample_latent=True`` (the default, as in the papers' code) z is one draw from the posterior, with
``False`` the posterior mean; draws come from ``seed`` and leave the caller's random state alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations

import torch
from torch import Tensor

from mmcore.data.dataset import MultimodalBatch
from mmcore.metrics._evaluation import (
    NoEvaluableSamplesError,
    batches_on,
    check_modalities,
    evaluating,
    has_all,
    model_device,
    seeded,
    select,
    subset_label,
)
from mmcore.metrics.oracles import Classify
from mmcore.models.base import MultimodalVAE


def latent_given(model: MultimodalVAE, data: Mapping[str, Tensor], sample_latent: bool) -> Tensor:
    """z from the posterior given ``data`` (every sample has every modality in it): a draw or the mean."""
    posterior = model.posterior(dict(data))
    return posterior.rsample() if sample_latent else posterior.mean


def _count_correct(classify: Classify, generated: Mapping[str, Tensor], labels: Tensor) -> int:
    predictions = classify(generated)
    if predictions.shape != labels.shape:
        raise ValueError(f"the classifier returned shape {tuple(predictions.shape)} for {labels.shape[0]} samples")
    return int((predictions.to(labels.device) == labels).sum())


class _Tally:
    """Correct and total counts per key, turned into accuracies at the end."""

    def __init__(self) -> None:
        self.correct: dict[object, int] = {}
        self.total: dict[object, int] = {}

    def add(self, key: object, correct: int, total: int) -> None:
        self.correct[key] = self.correct.get(key, 0) + correct
        self.total[key] = self.total.get(key, 0) + total

    def accuracy(self, key: object, description: str) -> float:
        total = self.total.get(key, 0)
        if total == 0:
            raise NoEvaluableSamplesError(f"no labelled sample has {description}")
        return self.correct[key] / total


def _conditional_accuracies(
    model: MultimodalVAE,
    loader: Iterable[MultimodalBatch],
    tasks: Sequence[tuple[tuple[str, ...], Sequence[str], Classify]],
    sample_latent: bool,
    seed: int | None,
    keep_observed: bool = False,
) -> _Tally:
    """For each task (sources, decoded names, classifier): accuracy of the classifier on what z | sources decodes to.

    Tasks sharing a source subset share one posterior draw per batch. With ``keep_observed`` the source
    modalities are passed to the classifier as observed instead of as decoded.
    """
    by_sources: dict[tuple[str, ...], list[tuple[int, Sequence[str], Classify]]] = {}
    for index, (sources, names, classify) in enumerate(tasks):
        by_sources.setdefault(tuple(sources), []).append((index, names, classify))
    tally = _Tally()
    device = model_device(model)
    with evaluating(model), seeded(seed, device):
        for batch in batches_on(loader, device, need_labels=True):
            for sources, jobs in by_sources.items():
                keep = has_all(batch, sources)
                count = int(keep.sum())
                if count == 0:
                    continue
                observed = select(batch.data, sources, keep)
                z = latent_given(model, observed, sample_latent)
                labels = batch.labels[keep]
                for index, names, classify in jobs:
                    generated = model.decode_mean(z, names)
                    if keep_observed:
                        generated.update({name: observed[name] for name in names if name in observed})
                    tally.add(index, _count_correct(classify, generated, labels), count)
    return tally


def joint_coherence(
    model: MultimodalVAE,
    n_samples: int,
    classify_fns: Mapping[str, Classify] | Sequence[Classify],
    *,
    batch_size: int = 1000,
    seed: int | None = 0,
) -> dict[str, float]:
    """Fraction of ``n_samples`` joint generations (z from the prior) on which every classifier gives one class.

    Each classifier reads the generated modalities it needs (its view). With a single classifier (MNIST-Split's
    whole-image oracle) every sample agrees with itself and the value is 1.

    >>> joint_coherence(model, 10_000, {"m0": classify_m0, "m1": classify_m1})  # doctest: +SKIP
    {'joint_coherence': 0.72}
    """
    if n_samples <= 0 or batch_size <= 0:
        raise ValueError(f"n_samples and batch_size must be positive, got {n_samples} and {batch_size}")
    classifiers = list(classify_fns.values()) if isinstance(classify_fns, Mapping) else list(classify_fns)
    if not classifiers:
        raise ValueError("joint coherence needs at least one classifier")
    agreeing = 0
    device = model_device(model)
    with evaluating(model), seeded(seed, device):
        for start in range(0, n_samples, batch_size):
            generated = model.generate(min(batch_size, n_samples - start))
            predictions = [classify(generated) for classify in classifiers]
            first = predictions[0]
            agree = torch.ones_like(first, dtype=torch.bool)
            for other in predictions[1:]:
                agree &= other.to(first.device) == first
            agreeing += int(agree.sum())
    return {"joint_coherence": agreeing / n_samples}


def cross_coherence(
    model: MultimodalVAE,
    loader: Iterable[MultimodalBatch],
    source: str | Sequence[str],
    target: str,
    classify: Classify,
    *,
    sample_latent: bool = True,
    seed: int | None = 0,
) -> dict[str, float]:
    """Accuracy of ``classify`` on ``target`` generated from ``source`` (one modality or a subset).

    Key: ``cross_coherence/<sources>-><target>``, sources joined by ``+``.
    """
    sources = check_modalities(model.modality_names, [source] if isinstance(source, str) else source, "sources")
    (target,) = check_modalities(model.modality_names, [target], "target")
    tally = _conditional_accuracies(model, loader, [(tuple(sources), [target], classify)], sample_latent, seed)
    key = f"cross_coherence/{subset_label(sources)}->{target}"
    return {key: tally.accuracy(0, f"all of {sources}")}


def synergy(
    model: MultimodalVAE,
    loader: Iterable[MultimodalBatch],
    target: str,
    classify: Classify,
    *,
    sample_latent: bool = True,
    seed: int | None = 0,
) -> dict[str, float]:
    """Accuracy of ``classify`` on ``target`` generated from all other modalities together.

    Only samples that have every other modality take part. Key: ``synergy/<target>``.
    """
    (target,) = check_modalities(model.modality_names, [target], "target")
    sources = tuple(name for name in model.modality_names if name != target)
    tally = _conditional_accuracies(model, loader, [(sources, [target], classify)], sample_latent, seed)
    return {f"synergy/{target}": tally.accuracy(0, f"all of {list(sources)}")}


def coherence_by_subset_size(
    model: MultimodalVAE,
    loader: Iterable[MultimodalBatch],
    classify_per_modality: Mapping[str, Classify],
    *,
    sample_latent: bool = True,
    seed: int | None = 0,
) -> dict[str, float]:
    """Mean cross coherence over every subset S of each size k and every classified target outside S.

    For PolyMNIST (Sutter et al. 2021): k runs from 1 to (number of modalities − 1); each (S, target) pair's
    accuracy counts equally in its size's mean. Keys: ``coherence/subset_size_<k>``.
    """
    names = model.modality_names
    check_modalities(names, classify_per_modality, "classified modalities")
    tasks: list[tuple[tuple[str, ...], Sequence[str], Classify]] = []
    sizes: list[int] = []
    for size in range(1, len(names)):
        for sources in combinations(names, size):
            for target, classify in classify_per_modality.items():
                if target not in sources:
                    tasks.append((sources, [target], classify))
                    sizes.append(size)
    tally = _conditional_accuracies(model, loader, tasks, sample_latent, seed)
    results: dict[str, float] = {}
    for size in sorted(set(sizes)):
        accuracies = [
            tally.accuracy(index, f"all of {list(tasks[index][0])}")
            for index, task_size in enumerate(sizes)
            if task_size == size
        ]
        results[f"coherence/subset_size_{size}"] = sum(accuracies) / len(accuracies)
    return results


def mnist_split_accuracy(
    model: MultimodalVAE,
    loader: Iterable[MultimodalBatch],
    classify: Classify,
    *,
    source_subsets: Iterable[Sequence[str]] | None = None,
    sample_latent: bool = True,
    keep_observed: bool = False,
    seed: int | None = 0,
) -> dict[str, float]:
    """The accuracies of Kutuzova et al. 2021, Table 1: the whole digit generated from both halves, top, bottom.

    For each source subset (default: every non-empty subset of the model's modalities, largest first; for
    MNIST-Split the seed's three: ``top+bottom``, ``top``, ``bottom``), z is drawn from the posterior given
    the subset and **every** band is decoded from it; ``classify`` (the whole-image oracle, through
    :func:`~mmcore.metrics.oracles.joined_rows_view`) judges the joined image. Decoding the given bands too,
    rather than pasting the observed ones, is what the seed's code does (``evaluate_accuracy`` in
    ``experiments/mnist_split/run.py`` of sgalkina/poe-vaes: both halves are reconstructed from one posterior
    sample and concatenated); so the "both halves" number is a reconstruction accuracy. ``keep_observed=True``
    pastes the observed bands instead (a softer variant, not the seed's).

    Keys: ``accuracy/from_<subset>``, e.g. ``accuracy/from_top+bottom``, ``accuracy/from_top``.
    """
    names = model.modality_names
    if source_subsets is None:
        subsets = [combo for size in range(len(names), 0, -1) for combo in combinations(names, size)]
    else:
        subsets = [tuple(check_modalities(names, subset, "source subset")) for subset in source_subsets]
    tasks = [(subset, names, classify) for subset in subsets]
    tally = _conditional_accuracies(model, loader, tasks, sample_latent, seed, keep_observed=keep_observed)
    return {
        f"accuracy/from_{subset_label(subset)}": tally.accuracy(index, f"all of {list(subset)}")
        for index, subset in enumerate(subsets)
    }
