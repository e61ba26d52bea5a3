"""Accuracy figures reported for every model: overall and per age group."""

from __future__ import annotations

import torch

AGE_GROUPS: tuple[tuple[str, int, int], ...] = (
    ("0-12", 0, 12),
    ("13-19", 13, 19),
    ("20-39", 20, 39),
    ("40-59", 40, 59),
    ("60-79", 60, 79),
    ("80+", 80, 999),
)


def summarise(pred: torch.Tensor, true: torch.Tensor, interval: torch.Tensor | None = None) -> dict:
    """MAE overall and per age group; interval coverage when the head gives intervals."""
    pred, true = pred.float().cpu(), true.float().cpu()
    error = (pred - true).abs()
    result: dict = {
        "n": len(true),
        "mae": round(float(error.mean()), 3) if len(true) else float("nan"),
        "groups": {},
    }
    for name, low, high in AGE_GROUPS:
        members = (true >= low) & (true <= high)
        if members.any():
            result["groups"][name] = {"n": int(members.sum()), "mae": round(float(error[members].mean()), 3)}
    if interval is not None and len(true):
        interval = interval.float().cpu()
        inside = (true >= interval[:, 0]) & (true <= interval[:, 1])
        result["interval_coverage"] = round(float(inside.float().mean()), 3)
        result["interval_mean_width"] = round(float((interval[:, 1] - interval[:, 0]).mean()), 2)
    return result
