"""Evaluation metrics for multimodal VAEs: oracle coherence, latent classification, IWAE likelihood, CCA.

Every metric talks to a model only through the :class:`~mmcore.models.base.MultimodalVAE` interface, reads
batches of :class:`~mmcore.data.dataset.MultimodalBatch` (labels ride along for the class-based metrics), and
returns a plain ``dict[str, float]`` that can be logged or written as JSON.

MNIST-Split, as in Kutuzova et al. 2021, Table 1::

    mnist = load_mnist(data_dir)
    oracle = load_or_train_oracle("cache/mnist-oracle.safetensors", mnist.train_images, mnist.train_labels,
                                  mnist.test_images, mnist.test_labels)
    classify = ViewClassifier(oracle.classifier, joined_rows_view(MNIST_SPLIT_PARTS))
    mnist_split_accuracy(model, test_loader, classify)
    # {'accuracy/from_top+bottom': ..., 'accuracy/from_top': ..., 'accuracy/from_bottom': ...}
    test_log_likelihood(model, test_loader, n_importance_samples=1000)
    latent_classification_accuracy(model, train_loader, test_loader, ["top"])
"""

from mmcore.metrics._evaluation import MissingLabelsError, NoEvaluableSamplesError
from mmcore.metrics.cca import CCAProjection, cca_correlation, fit_cca
from mmcore.metrics.coherence import (
    coherence_by_subset_size,
    cross_coherence,
    joint_coherence,
    mnist_split_accuracy,
    synergy,
)
from mmcore.metrics.cub import CUB_CCA_COMPONENTS, cub_cca_coherence
from mmcore.metrics.latent_classification import (
    LinearClassifier,
    fit_linear_classifier,
    latent_classification_accuracy,
    posterior_means,
)
from mmcore.metrics.likelihood import importance_log_likelihood, test_log_likelihood
from mmcore.metrics.oracles import (
    CachedOracle,
    Classify,
    OracleArchitecture,
    OracleCacheError,
    OracleClassifier,
    OracleTraining,
    ViewClassifier,
    joined_rows_view,
    load_or_train_oracle,
    modality_view,
    per_modality_classifiers,
    train_oracle,
)

__all__ = [
    "CUB_CCA_COMPONENTS",
    "CCAProjection",
    "CachedOracle",
    "Classify",
    "LinearClassifier",
    "MissingLabelsError",
    "NoEvaluableSamplesError",
    "OracleArchitecture",
    "OracleCacheError",
    "OracleClassifier",
    "OracleTraining",
    "ViewClassifier",
    "cca_correlation",
    "coherence_by_subset_size",
    "cross_coherence",
    "cub_cca_coherence",
    "fit_cca",
    "fit_linear_classifier",
    "importance_log_likelihood",
    "joined_rows_view",
    "joint_coherence",
    "latent_classification_accuracy",
    "load_or_train_oracle",
    "mnist_split_accuracy",
    "modality_view",
    "per_modality_classifiers",
    "posterior_means",
    "synergy",
    "test_log_likelihood",
    "train_oracle",
]
