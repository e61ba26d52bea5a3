"""The training loss: cross-entropy to a target distribution over the age bins, plus L1 on the expected age.

What the target is (soft labels, or soft labels mixed with teachers' distributions) is the run's target
strategy, `training/targets.py`.
"""

from __future__ import annotations

import torch
from torch.nn import functional as nnf

from inference_service.vision.model_config import ModelConfig


def soft_labels(ages: torch.Tensor, cfg: ModelConfig, sigma: float) -> torch.Tensor:
    """Gaussian label distribution over the age bins (one-hot when sigma is 0)."""
    bins = torch.arange(cfg.age_min, cfg.age_max + 1, device=ages.device, dtype=torch.float32)
    ages = ages.clamp(cfg.age_min, cfg.age_max).view(-1, 1)
    if sigma <= 0:
        return (bins.view(1, -1) == ages.round()).float()
    weights = torch.exp(-((bins.view(1, -1) - ages) ** 2) / (2 * sigma**2))
    return weights / weights.sum(dim=1, keepdim=True)


def expected_age(logits: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """The mean of softmax(logits) over the age bins, with gradients: what the L1 term trains, and
    the age `model_config.decode_output` reports (a test checks they agree)."""
    bins = torch.arange(cfg.age_min, cfg.age_max + 1, device=logits.device, dtype=torch.float32)
    return logits.float().softmax(dim=1) @ bins


def age_loss(
    logits: torch.Tensor, ages: torch.Tensor, target: torch.Tensor, cfg: ModelConfig, l1_weight: float
) -> torch.Tensor:
    """Batch mean of the cross-entropy to `target` (N x bins) plus `l1_weight` x |expected - true age|."""
    per_sample = -(target * nnf.log_softmax(logits, dim=1)).sum(dim=1)
    if l1_weight:
        per_sample = per_sample + l1_weight * (expected_age(logits, cfg) - ages).abs()
    return per_sample.mean()
