"""The CUB image–caption coherence of Shi et al. 2019 (MMVAE), scored with CCA on fixed features.

Images and captions cannot be classified by an oracle, so MMVAE scores how well a (real or generated) image
and caption go together: fit CCA on feature pairs of the training set, then report, for a set of pairs, the
mean cosine similarity of their canonical variates (:meth:`CCAProjection.mean_pair_cosine`). The sets
scored are typically

* ``ground_truth``: test images with their own captions (the reference value);
* ``image_to_caption``: test images with captions generated from them;
* ``caption_to_image``: images generated from test captions, with those captions;
* ``joint``: images and captions generated together from prior samples.

The feature extractors are not part of this package (they are pretrained networks), so these functions take
feature arrays. MMVAE's features: images are the 2048-dimensional average-pooled features of an
ImageNet-trained ResNet-101 (MMVAE's CUB model works in that feature space, so its generated "images" are
such features directly); captions are 300-dimensional FastText word vectors trained on the training captions,
averaged with SIF weights a / (a + p(word)), a = 10⁻³, with the projection on the first principal component of
the training sentence embeddings removed (Arora, Liang & Ma 2017). MMVAE uses 40 canonical components.

One difference from the authors' code: there the projections are generalised eigenvectors scaled to unit
Euclidean length; here each canonical variate has unit variance on the training pairs (classical CCA). The
cosine weighs components by their scale, so absolute values can differ slightly from the paper's.
"""

from __future__ import annotations

from collections.abc import Mapping

from numpy.typing import ArrayLike

from mmcore.metrics.cca import fit_cca

CUB_CCA_COMPONENTS = 40
"""Number of canonical components in MMVAE's CUB evaluation."""


def cub_cca_coherence(
    train_image_features: ArrayLike,
    train_caption_features: ArrayLike,
    scored_pairs: Mapping[str, tuple[ArrayLike, ArrayLike]],
    *,
    n_components: int = CUB_CCA_COMPONENTS,
    regularisation: float = 1e-4,
) -> dict[str, float]:
    """Fit CCA on the training pairs; score each named set of (image features, caption features) pairs.

    Returns ``cca/<name>`` (mean cosine of the pairs' canonical variates) for every entry of ``scored_pairs``
    and ``cca/train_first_correlation``, the largest canonical correlation on the training pairs.

    >>> cub_cca_coherence(train_images, train_captions, {"ground_truth": (test_images, test_captions),
    ...                   "joint": (generated_images, generated_captions)})  # doctest: +SKIP
    """
    projection = fit_cca(train_image_features, train_caption_features, n_components, regularisation)
    results = {"cca/train_first_correlation": float(projection.correlations[0])}
    for name, (image_features, caption_features) in scored_pairs.items():
        results[f"cca/{name}"] = projection.mean_pair_cosine(image_features, caption_features)
    return results
