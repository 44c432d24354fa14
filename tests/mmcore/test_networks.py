"""Benchmark networks: image and text encoders/decoders accept every layout a model gives them."""

from __future__ import annotations

import pytest
import torch

from mmcore.likelihoods import BernoulliLikelihood, CategoricalLikelihood
from mmcore.networks import MLP, ConvImageDecoder, ConvImageEncoder, TextCNNDecoder, TextCNNEncoder, mlp_encoder


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_mlp_and_mlp_encoder_keep_their_layout():
    mlp = MLP(4, [8, 6], 3)
    assert [layer.out_features for layer in mlp.layers if isinstance(layer, torch.nn.Linear)] == [8, 6, 3]
    encoder, feature_dim = mlp_encoder(4, [8, 5])
    features = encoder(torch.randn(7, 4))
    assert feature_dim == 5 and features.shape == (7, 5) and bool((features >= 0).all())


@pytest.mark.parametrize(
    ("image_shape", "channels"),
    [((1, 28, 28), (32, 64)), ((1, 14, 28), (32, 64)), ((1, 9, 28), (16, 32)), ((3, 32, 32), (32, 64, 128))],
)
def test_conv_encoder_reads_flat_and_image_layouts_alike(image_shape, channels):
    encoder = ConvImageEncoder(image_shape, feature_dim=20, channels=channels)
    images = torch.rand(5, *image_shape)
    from_images = encoder(images)
    from_flat = encoder(images.reshape(5, -1))
    assert from_images.shape == (5, 20)
    assert torch.allclose(from_images, from_flat, atol=0)
    stacked = encoder(images.reshape(1, 5, -1).expand(3, 5, -1))  # leading sample axis
    assert stacked.shape == (3, 5, 20) and torch.allclose(stacked[2], from_images, atol=1e-6)
    with pytest.raises(ValueError, match="expected images of shape"):
        encoder(torch.rand(5, 7))


@pytest.mark.parametrize(
    ("image_shape", "channels"),
    [((1, 28, 28), (64, 32)), ((1, 14, 28), (64, 32)), ((1, 10, 28), (64, 32)), ((3, 32, 32), (128, 64, 32))],
)
def test_conv_decoder_output_matches_the_image_and_each_latent_sample(image_shape, channels):
    decoder = ConvImageDecoder(6, image_shape, channels=channels)
    z = torch.randn(4, 3, 6)  # (samples, batch, latent)
    images = decoder(z)
    assert images.shape == (4, 3, *image_shape)
    assert torch.allclose(images[1], decoder(z[1]), atol=1e-6)
    flat = ConvImageDecoder(6, image_shape, channels=channels, flat_output=True)
    flat.load_state_dict(decoder.state_dict())
    assert torch.equal(flat(z), images.reshape(4, 3, -1))


def test_conv_networks_reject_impossible_shapes():
    with pytest.raises(ValueError, match="image_shape"):
        ConvImageEncoder((28, 28))
    with pytest.raises(ValueError, match="too many"):
        ConvImageEncoder((1, 4, 4), channels=(8, 8, 8))
    with pytest.raises(ValueError, match="at least one"):
        ConvImageDecoder(4, (1, 28, 28), channels=())


def test_conv_autoencoder_learns_to_reconstruct_half_digits():
    """A few Adam steps lower the Bernoulli reconstruction error of 14×28 images far below its start."""
    torch.set_num_threads(1)
    images = (torch.rand(16, 1, 14, 28) > 0.7).float()
    encoder = ConvImageEncoder((1, 14, 28), feature_dim=32, channels=(8, 16))
    decoder = ConvImageDecoder(32, (1, 14, 28), channels=(16, 8), flat_output=True)
    likelihood = BernoulliLikelihood()
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=1e-2)
    losses = []
    for _ in range(150):
        loss = -likelihood.log_prob(decoder(encoder(images)), images.reshape(16, -1)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_text_encoder_and_decoder_shapes_and_padding():
    encoder = TextCNNEncoder(vocabulary_size=50, sequence_length=16, feature_dim=24, embedding_dim=8, channels=(16, 32))
    tokens = torch.randint(1, 50, (6, 16))
    features = encoder(tokens)
    assert features.shape == (6, 24)
    assert torch.equal(encoder.embedding.weight[0], torch.zeros(8))  # padding embeds to zero
    assert torch.allclose(encoder(tokens.unsqueeze(0).expand(2, 6, 16))[1], features, atol=1e-6)
    with pytest.raises(ValueError, match="length 16"):
        encoder(torch.randint(0, 50, (6, 15)))
    decoder = TextCNNDecoder(5, vocabulary_size=50, sequence_length=16, channels=(32, 16))
    logits = decoder(torch.randn(3, 6, 5))
    assert logits.shape == (3, 6, 16, 50)
    log_likelihood = CategoricalLikelihood(padding_index=0).log_prob(logits, tokens)
    assert log_likelihood.shape == (3, 6) and bool((log_likelihood < 0).all())


def test_text_decoder_learns_a_sentence():
    """From a fixed latent code, the decoder learns to emit a fixed token sequence."""
    torch.set_num_threads(1)
    sentence = torch.randint(1, 20, (1, 12))
    decoder = TextCNNDecoder(4, vocabulary_size=20, sequence_length=12, channels=(16, 16))
    z = torch.randn(1, 4)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-2)
    likelihood = CategoricalLikelihood()
    for _ in range(100):
        loss = -likelihood.log_prob(decoder(z), sentence).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.equal(likelihood.mean(decoder(z)), sentence)
