"""Training losses for the three heads."""

from __future__ import annotations

import torch
from torch.nn import functional as nnf

from inference_service.vision.model_config import ModelConfig

from .config import OptimConfig


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
    logits: torch.Tensor,
    ages: torch.Tensor,
    cfg: ModelConfig,
    optim: OptimConfig,
    weights: torch.Tensor | None = None,
    teacher: torch.Tensor | None = None,
    reduce: bool = True,
) -> torch.Tensor:
    """Per-sample loss, optionally weighted (label-distribution smoothing), averaged (or per sample,
    for group DRO, with `reduce=False`).

    `teacher` (bins head) holds a teacher's age distributions for these samples; the
    cross-entropy target becomes a mix of them and the Gaussian soft labels, which
    carries what the teacher learnt about ambiguous faces (self-distillation).
    """
    if cfg.head == "bins":
        target = soft_labels(ages, cfg, optim.label_sigma)
        if teacher is not None:
            target = torch.lerp(target, teacher, optim.distill_weight)
        per_sample = -(target * nnf.log_softmax(logits, dim=1)).sum(dim=1)
        if optim.l1_weight:
            per_sample = per_sample + optim.l1_weight * (expected_age(logits, cfg) - ages).abs()
    elif cfg.head == "l1":
        per_sample = (logits.view(-1) - ages).abs()
    else:
        per_sample = (logits.view(-1) - ages) ** 2
    if weights is not None:
        per_sample = per_sample * weights
    return per_sample.mean() if reduce else per_sample
