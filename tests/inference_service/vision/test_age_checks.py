"""Age checks: P(age >= T) from the calibrated distribution, the verdict, and the threshold grammar.

Through the API (?thresholds=, the settings' defaults, the 422s): api/test_age_checks.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference_service.vision.age_checks import (
    AgeCheckError,
    check_thresholds,
    parse_thresholds,
    probability_over,
    verdict,
)
from inference_service.vision.model_config import ModelConfig, decode_output

CFG = ModelConfig()


def test_p_over_is_the_upper_tail_of_the_calibrated_distribution_and_falls_with_the_threshold() -> None:
    logits = np.random.default_rng(0).normal(size=(64, CFG.num_bins)).astype(np.float32) * 3
    cfg = ModelConfig(temperature=1.7)
    probs = decode_output(logits, cfg).probabilities
    np.testing.assert_allclose(probs, torch.from_numpy(logits / 1.7).softmax(1).numpy(), atol=1e-6)
    thresholds = list(range(0, 101, 5))
    p_over = probability_over(probs, thresholds, cfg)
    for i, t in enumerate(thresholds):
        np.testing.assert_allclose(p_over[:, i], probs[:, t:].sum(1), atol=1e-5)
    assert (p_over[:, 1:] <= p_over[:, :-1] + 1e-6).all()
    np.testing.assert_allclose(p_over[:, 0], np.ones(64), atol=1e-5)


@pytest.mark.parametrize(
    ("p", "expected"), [(0.95, "over"), (0.9, "over"), (0.5, "uncertain"), (0.1, "under"), (0.02, "under")]
)
def test_verdict_needs_the_configured_confidence(p: float, expected: str) -> None:
    assert verdict(p, 0.9) == expected


def test_thresholds_parse_sorted_without_repeats() -> None:
    assert parse_thresholds(" 21,13 ,18,18") == [13, 18, 21]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("abc", "'abc' is not a whole number"),
        ("18,,21", "value 2 of 3 is empty"),
        ("18.5", "'18.5' is not a whole number"),
        ("1,2,3,4,5,6,7,8,9", "at most 8 values, got 9"),
    ],
)
def test_malformed_thresholds_say_which_value(text: str, says: str) -> None:
    with pytest.raises(AgeCheckError, match=says):
        parse_thresholds(text)


def test_thresholds_must_lie_in_the_age_range() -> None:
    assert check_thresholds([0, 18, 100], CFG) == [0, 18, 100]
    for value in (-1, 101, 500):
        with pytest.raises(AgeCheckError, match=f"{value} is outside the model's age range 0..100"):
            check_thresholds([value], CFG)
    assert check_thresholds([], CFG) == []
