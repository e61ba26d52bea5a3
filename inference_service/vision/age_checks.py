"""Age checks: the calibrated probability that a face is at least T years old, and a verdict.

Age assurance asks "over 18?", not "how old?". The age head gives a whole
distribution over ages, so P(age >= T) is its upper tail; the checkpoint's
temperature (fitted on the validation split) is what makes that number honest.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .model_config import ModelConfig

MAX_THRESHOLDS = 8
# The grammar of `?thresholds=` for the OpenAPI document: up to 8 whole ages in 0..100 (the shipped
# model's range), comma-separated, or empty. The parser below gives the one-line errors itself.
_AGE = "(100|[1-9]?[0-9])"
THRESHOLDS_PATTERN = f"^({_AGE}(,{_AGE}){{0,{MAX_THRESHOLDS - 1}}})?$"
Verdict = Literal["over", "under", "uncertain"]


class AgeCheckError(ValueError):
    """The requested thresholds are malformed or outside the model's age range."""


def parse_thresholds(text: str) -> list[int]:
    """'13,18,21' -> [13, 18, 21] (sorted, without repeats); one-line errors say which value is wrong."""
    parts = [part.strip() for part in text.split(",")]
    values = []
    for position, part in enumerate(parts, start=1):
        if not part:
            raise AgeCheckError(f"thresholds: value {position} of {len(parts)} is empty")
        if not part.lstrip("+-").isdigit():
            raise AgeCheckError(f"thresholds: {part[:20]!r} is not a whole number of years")
        values.append(int(part))
    if len(values) > MAX_THRESHOLDS:
        raise AgeCheckError(f"thresholds: at most {MAX_THRESHOLDS} values, got {len(values)}")
    return sorted(set(values))


def check_thresholds(thresholds: list[int], config: ModelConfig) -> list[int]:
    """Refuse thresholds outside the model's age range."""
    for value in thresholds:
        if not config.age_min <= value <= config.age_max:
            raise AgeCheckError(
                f"thresholds: {value} is outside the model's age range {config.age_min}..{config.age_max}"
            )
    return thresholds


def probability_over(probabilities: np.ndarray, thresholds: list[int], config: ModelConfig) -> np.ndarray:
    """P(true age >= T) for each threshold: the upper tail of the calibrated distribution, (N, len(T))."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    tails = probabilities[:, ::-1].cumsum(axis=1)[:, ::-1]  # tails[:, i] = P(age >= age_min + i)
    index = np.clip([t - config.age_min for t in thresholds], 0, config.num_bins - 1).astype(np.int64)
    return np.clip(tails[:, index], 0.0, 1.0)


def verdict(p_over: float, confidence: float) -> Verdict:
    """`over` or `under` when the calibrated probability is that sure, else `uncertain`."""
    if p_over >= confidence:
        return "over"
    if 1.0 - p_over >= confidence:
        return "under"
    return "uncertain"


def age_checks(
    distribution: np.ndarray, thresholds: list[int], confidence: float, config: ModelConfig
) -> list[dict]:
    """One face's checks, in threshold order, as the API returns them."""
    p_over = probability_over(distribution.reshape(1, -1), thresholds, config)[0]
    return [
        {"threshold": t, "p_over": round(float(p), 3), "verdict": verdict(float(p), confidence)}
        for t, p in zip(thresholds, p_over.tolist())
    ]
