"""The model's arithmetic: preprocessing as training normalises; the head decoded to age and interval."""

from __future__ import annotations

import numpy as np
import torch

from inference_service.vision.age_model import normalise
from inference_service.vision.model_config import ModelConfig, decode_output, preprocess
from training.losses import expected_age

CFG = ModelConfig()


def test_inference_preprocessing_is_the_training_normalisation() -> None:
    """The service's NumPy preprocessing and the trainer's torch normalisation: one arithmetic."""
    cfg = ModelConfig(input_size=32)
    crops = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    trained = normalise(torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255), cfg)
    np.testing.assert_allclose(preprocess(crops, cfg), trained.numpy(), atol=1e-6)


def test_temperature_reshapes_the_distribution_but_never_moves_the_age() -> None:
    logits = np.random.default_rng(1).normal(size=(16, CFG.num_bins)).astype(np.float32) * 2
    raw, sharp = decode_output(logits, ModelConfig()), decode_output(logits, ModelConfig(temperature=0.5))
    assert np.array_equal(raw.age, sharp.age)
    width = lambda out: (out.interval[:, 1] - out.interval[:, 0]).mean()  # noqa: E731
    assert width(sharp) < width(raw)


def test_the_reported_age_is_the_expected_age_the_loss_trains() -> None:
    """The service decodes in NumPy and the loss computes the same mean in torch, with gradients."""
    logits = torch.randn(32, CFG.num_bins) * 3
    np.testing.assert_allclose(
        decode_output(logits.numpy(), CFG).age, expected_age(logits, CFG).numpy(), atol=1e-4
    )


def test_the_80_percent_interval_holds_80_percent_of_ages_drawn_from_the_distribution() -> None:
    """Whole-bin quantiles would cover ~84 %: the interval reads each bin as spread over one year."""
    rng = np.random.default_rng(1)
    centres = rng.integers(5, 90, 4000).astype(np.float32)
    bins = np.arange(CFG.num_bins, dtype=np.float32)
    widths = rng.random(4000, dtype=np.float32) * 6 + 2
    logits = -((bins[None, :] - centres[:, None]) ** 2) / (2 * widths[:, None] ** 2)
    out = decode_output(logits, CFG)
    cdf = out.probabilities.cumsum(1)
    ages = (cdf < rng.random((4000, 1))).sum(1).clip(max=CFG.num_bins - 1)  # one draw per face
    inside = (ages >= out.interval[:, 0]) & (ages <= out.interval[:, 1])
    assert 0.78 <= float(inside.mean()) <= 0.82
