"""Accuracy figures reported for every model: overall and per age group."""

from __future__ import annotations

import numpy as np
import torch

# Ages and probabilities arrive as tensors (training) or NumPy arrays (the AgeEstimator's output).
Values = torch.Tensor | np.ndarray

AGE_GROUPS: tuple[tuple[str, int, int], ...] = (
    ("0-12", 0, 12),
    ("13-19", 13, 19),
    ("20-39", 20, 39),
    ("40-59", 40, 59),
    ("60-79", 60, 79),
    ("80+", 80, 999),
)


def summarise(pred: Values, true: Values, interval: Values | None = None) -> dict:
    """MAE overall and per age group; interval coverage when the head gives intervals."""
    pred, true = torch.as_tensor(pred).float().cpu(), torch.as_tensor(true).float().cpu()
    error = (pred - true).abs()
    result: dict = {
        "n": len(true),
        "mae": round(float(error.mean()), 3) if len(true) else float("nan"),
        "cs5": round(float((error <= 5).float().mean()), 4) if len(true) else float("nan"),
        "groups": {},
    }
    for name, low, high in AGE_GROUPS:
        members = (true >= low) & (true <= high)
        if members.any():
            result["groups"][name] = {"n": int(members.sum()), "mae": round(float(error[members].mean()), 3)}
    if interval is not None and len(true):
        interval = torch.as_tensor(interval).float().cpu()
        inside = (true >= interval[:, 0]) & (true <= interval[:, 1])
        result["interval_coverage"] = round(float(inside.float().mean()), 3)
        result["interval_mean_width"] = round(float((interval[:, 1] - interval[:, 0]).mean()), 2)
    return result


def expected_calibration_error(p: Values, outcome: Values, bins: int = 10) -> float:
    """ECE of probabilities `p` for a binary `outcome`.

    The mean |confidence - frequency| over equal-width bins, weighted by each bin's share.
    """
    p, outcome = torch.as_tensor(p).float().cpu(), torch.as_tensor(outcome).float().cpu()
    index = (p * bins).long().clamp(max=bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += float(members.float().mean()) * abs(float(p[members].mean() - outcome[members].mean()))
    return total


def age_check_report(
    p_over: Values,
    pred: Values,
    true: Values,
    thresholds: list[int],
    confidence: float,
) -> dict:
    """The rates an age-assurance test reports, per threshold T (verdicts as the service gives them).

    False accept: true age under T, verdict `over`. False reject: true age at least
    T + 5, verdict `under`. Challenge-25 (NIST FATE AEV): the share of 13-17-year-olds
    whose estimated age is 25 or more.
    """
    true, pred = torch.as_tensor(true).float().cpu(), torch.as_tensor(pred).float().cpu()
    p_over = torch.as_tensor(p_over)
    over, under = p_over >= confidence, p_over <= 1 - confidence
    checks = {}
    for i, t in enumerate(thresholds):
        minors, clear = true < t, true >= t + 5
        checks[str(t)] = {
            "n_under": int(minors.sum()),
            "false_accept_rate": _share(over[:, i], minors),
            "n_at_least_t_plus_5": int(clear.sum()),
            "false_reject_rate": _share(under[:, i], clear),
            "uncertain_share": round(float((~over[:, i] & ~under[:, i]).float().mean()), 4),
            "ece": round(expected_calibration_error(p_over[:, i], true >= t), 4),
        }
    teens = (true >= 13) & (true <= 17)
    by_year = {}
    for year in range(13, 31):
        members = true.round() == year
        if members.any():
            by_year[str(year)] = {
                "n": int(members.sum()),
                "mae": round(float((pred[members] - true[members]).abs().mean()), 3),
            }
    return {
        "confidence": confidence,
        "thresholds": checks,
        "challenge_25": {"n": int(teens.sum()), "rate": _share(pred >= 25, teens)},
        "mae_by_year_13_30": by_year,
        "mae_13_30_mean_of_years": round(sum(v["mae"] for v in by_year.values()) / len(by_year), 3)
        if by_year
        else None,
    }


def _share(hit: torch.Tensor, among: torch.Tensor) -> float | None:
    return round(float(hit[among].float().mean()), 4) if among.any() else None


def paired_bootstrap(new: Values, old: Values, resamples: int = 5000, seed: int = 0) -> dict:
    """Is `new` better than `old` on the same faces? Their per-face absolute errors are paired, and
    `resamples` bootstrap draws of the faces give a 95 % interval for the MAE difference (new - old)."""
    new, old = torch.as_tensor(new).float(), torch.as_tensor(old).float()
    diff = new - old
    picks = torch.randint(0, len(diff), (resamples, len(diff)), generator=torch.Generator().manual_seed(seed))
    low, high = torch.quantile(diff[picks].mean(dim=1), torch.tensor([0.025, 0.975])).tolist()
    return {
        "faces": len(diff),
        "mae": {"new": round(float(new.mean()), 4), "against": round(float(old.mean()), 4)},
        "difference": round(float(diff.mean()), 4),
        "interval_95": [round(low, 4), round(high, 4)],
        "new_is_better": high < 0,
    }
