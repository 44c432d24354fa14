"""Linear latent classification: how much class information the posterior means carry, read off linearly.

The protocol of Shi et al. 2019 and Sutter et al. 2021: encode the training and test sets with the posterior
given a subset of modalities, fit a linear (softmax) classifier on the training means, report its test
accuracy. The classifier here is multinomial logistic regression with a small L2 penalty, fitted on the full
training set with L-BFGS on standardised features (deterministic: no mini-batches, no random state).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mmcore.data.dataset import MultimodalBatch
from mmcore.metrics._evaluation import (
    NoEvaluableSamplesError,
    batches_on,
    check_modalities,
    evaluating,
    has_all,
    model_device,
    select,
    subset_label,
)
from mmcore.models.base import MultimodalVAE


@dataclass(frozen=True)
class LinearClassifier:
    """Softmax regression on standardised features: ``logits = ((x − mean) / scale) @ weight + bias``."""

    weight: Tensor
    bias: Tensor
    feature_mean: Tensor
    feature_scale: Tensor

    def logits(self, features: Tensor) -> Tensor:
        standardised = (features.to(self.weight) - self.feature_mean) / self.feature_scale
        return standardised @ self.weight + self.bias

    def predict(self, features: Tensor) -> Tensor:
        return self.logits(features).argmax(-1)

    def accuracy(self, features: Tensor, labels: Tensor) -> float:
        if features.shape[0] == 0:
            raise ValueError("cannot measure accuracy on an empty set")
        return float((self.predict(features) == labels.to(self.weight.device).long()).double().mean())


def fit_linear_classifier(
    features: Tensor,
    labels: Tensor,
    n_classes: int | None = None,
    l2: float = 1e-4,
    max_iter: int = 200,
) -> LinearClassifier:
    """Multinomial logistic regression minimising mean cross-entropy + ``l2``/2 · ‖weight‖², by L-BFGS.

    Features are standardised with the training mean and standard deviation first (constant features get
    scale 1), which makes one ``l2`` suit latent spaces of any scale. Computed in float64 on the CPU.
    """
    if features.dim() != 2 or features.shape[0] != labels.shape[0] or features.shape[0] == 0:
        raise ValueError(f"need features (n, d) and n labels, got {tuple(features.shape)} and {tuple(labels.shape)}")
    x = features.detach().to("cpu", torch.float64)
    y = labels.detach().to("cpu").long()
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes}), got range [{int(y.min())}, {int(y.max())}]")
    mean = x.mean(0)
    scale = x.std(0, unbiased=False)
    scale = torch.where(scale > 1e-12, scale, torch.ones_like(scale))
    standardised = (x - mean) / scale
    weight = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(standardised @ weight + bias, y) + 0.5 * l2 * (weight**2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return LinearClassifier(weight.detach(), bias.detach(), mean, scale)


def posterior_means(
    model: MultimodalVAE, loader: Iterable[MultimodalBatch], subset: Sequence[str]
) -> tuple[Tensor, Tensor]:
    """Posterior means given ``subset`` ``(n, latent_dim)`` and labels ``(n,)``, on the CPU.

    Only the labelled samples that have every modality of ``subset`` take part.
    """
    means, labels = [], []
    device = model_device(model)
    with evaluating(model):
        for batch in batches_on(loader, device, need_labels=True):
            keep = has_all(batch, subset)
            if not bool(keep.any()):
                continue
            means.append(model.posterior(select(batch.data, subset, keep)).mean.cpu())
            labels.append(batch.labels[keep].cpu())
    if not means:
        raise NoEvaluableSamplesError(f"no labelled sample has all of {list(subset)}")
    return torch.cat(means), torch.cat(labels)


def latent_classification_accuracy(
    model: MultimodalVAE,
    train_loader: Iterable[MultimodalBatch],
    test_loader: Iterable[MultimodalBatch],
    subset: Sequence[str] | None = None,
    *,
    l2: float = 1e-4,
    max_iter: int = 200,
) -> dict[str, float]:
    """Test accuracy of a linear classifier fitted on posterior means given ``subset`` (default: all modalities).

    Key: ``latent_accuracy/<subset>``, e.g. ``latent_accuracy/top+bottom``.
    """
    subset = check_modalities(model.modality_names, model.modality_names if subset is None else subset, "subset")
    train_features, train_labels = posterior_means(model, train_loader, subset)
    test_features, test_labels = posterior_means(model, test_loader, subset)
    n_classes = int(max(train_labels.max(), test_labels.max())) + 1
    classifier = fit_linear_classifier(train_features, train_labels, n_classes, l2=l2, max_iter=max_iter)
    return {f"latent_accuracy/{subset_label(subset)}": classifier.accuracy(test_features, test_labels)}
