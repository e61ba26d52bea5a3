"""Who the model fails: accuracy and age-check errors by the dataset's gender and ethnicity labels.

The labels come from the data source (`sources.group_labels`: UTKFace's binary gender and
five coarse ethnicity codes in the file name; the other sources record none), used only to
measure: they are never an input to the model, and the service never infers or returns
them. Faces without labels are counted as such, never as a group. Cells under `MIN_CELL`
faces are marked too small to read; each MAE carries a bootstrap 95 % interval.
"""

from __future__ import annotations

import torch

from .metrics import Values
from .sources import GroupLabels

MIN_CELL = 30
ADULTS = (20, 59)
BOOTSTRAP_ROUNDS = 1000
NO_LABELS: GroupLabels = {"gender": None, "ethnicity": None}


def bootstrap_mae_interval(errors: torch.Tensor, seed: int = 0) -> list[float]:
    """2.5th and 97.5th percentiles of the MAE over resamples of the faces."""
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(len(errors), (BOOTSTRAP_ROUNDS, len(errors)), generator=generator)
    means = errors[draws].mean(dim=1)
    return [round(float(v), 3) for v in torch.quantile(means, torch.tensor([0.025, 0.975]))]


def _cell(errors: torch.Tensor, checks: dict[str, torch.Tensor] | None) -> dict:
    n = len(errors)
    cell: dict = {"n": n, "too_small": n < MIN_CELL}
    if n == 0:
        return cell
    cell["mae"] = round(float(errors.mean()), 3)
    cell["mae_ci95"] = bootstrap_mae_interval(errors)
    cell["cs5"] = round(float((errors <= 5).float().mean()), 4)
    if checks:
        cell["age_checks"] = {name: _rates(rows) for name, rows in checks.items()}
    return cell


def _rates(rows: torch.Tensor) -> dict:
    """rows: N x 3 booleans (false accept, counted as minor, false reject, counted as clearly over)."""
    accepts, minors, rejects, clear = rows.unbind(1)
    return {
        "false_accept_rate": round(float(accepts[minors].float().mean()), 4) if minors.any() else None,
        "n_under": int(minors.sum()),
        "false_reject_rate": round(float(rejects[clear].float().mean()), 4) if clear.any() else None,
        "n_at_least_t_plus_5": int(clear.sum()),
    }


def group_report(
    pred: Values,
    true: Values,
    groups: list[GroupLabels | None],
    p_over: Values | None = None,
    thresholds: list[int] | None = None,
    confidence: float = 0.9,
) -> dict:
    """MAE, CS@5 (and age-check error rates) per label value, over all faces and within ages 20-59.

    `groups` holds each face's labels, None for a face whose source records none."""
    unlabelled = sum(g is None for g in groups)
    groups = [NO_LABELS if g is None else g for g in groups]
    pred, true = torch.as_tensor(pred).float().cpu(), torch.as_tensor(true).float().cpu()
    p_over = None if p_over is None else torch.as_tensor(p_over)
    errors = (pred - true).abs()
    per_face_checks = _per_face_checks(p_over, true, thresholds, confidence)
    report: dict = {
        "min_cell": MIN_CELL,
        "labels": "the data source's labels (UTKFace: the file name), used only to measure",
        "n_without_labels": unlabelled,
    }
    for dimension in ("gender", "ethnicity"):
        values = [g[dimension] for g in groups]
        report[dimension] = {}
        for scope, in_scope in (
            ("all", torch.ones_like(true, dtype=torch.bool)),
            ("adults_20_59", _adults(true)),
        ):
            cells = {}
            for value in sorted({v for v in values if v is not None}):
                mask = in_scope & torch.tensor([v == value for v in values])
                checks = {t: rows[mask] for t, rows in per_face_checks.items()} if per_face_checks else None
                cells[value] = _cell(errors[mask], checks)
                if scope == "adults_20_59":
                    cells[value]["mae_age_standardised"] = _age_standardised(errors, true, mask, in_scope)
            report[dimension][scope] = {"cells": cells, **_spread(cells)}
            if scope == "adults_20_59":
                standardised = _spread(cells, "mae_age_standardised")
                report[dimension][scope]["age_standardised"] = standardised
    return report


def _age_standardised(errors: torch.Tensor, true: torch.Tensor, mask: torch.Tensor, scope: torch.Tensor):
    """The cell's MAE with each decade weighted as in the whole scope: the spread that remains
    when every group had the same age mix (None when the cell misses a decade)."""
    decades = (true // 10).long()
    total, weight_sum = 0.0, 0
    for decade in decades[scope].unique().tolist():
        in_decade = mask & (decades == decade)
        if not in_decade.any():
            return None
        weight = int((scope & (decades == decade)).sum())
        total += weight * float(errors[in_decade].mean())
        weight_sum += weight
    return round(total / weight_sum, 3)


def _adults(true: torch.Tensor) -> torch.Tensor:
    return (true >= ADULTS[0]) & (true <= ADULTS[1])


def _per_face_checks(
    p_over: torch.Tensor | None, true: torch.Tensor, thresholds: list[int] | None, confidence: float
) -> dict[str, torch.Tensor]:
    if p_over is None or not thresholds:
        return {}
    rows = {}
    for i, t in enumerate(thresholds):
        over, under = p_over[:, i] >= confidence, 1 - p_over[:, i] >= confidence
        rows[str(t)] = torch.stack([over, true < t, under, true >= t + 5], dim=1)
    return rows


def _spread(cells: dict[str, dict], key: str = "mae") -> dict:
    """The worst and best readable cell by `key` (MAE), and their ratio."""
    readable = {k: c[key] for k, c in cells.items() if not c["too_small"] and c.get(key) is not None}
    if len(readable) < 2:
        return {}
    worst, best = max(readable, key=readable.get), min(readable, key=readable.get)
    return {"worst": worst, "best": best, "worst_to_best_mae": round(readable[worst] / readable[best], 3)}


def worst_group_mae(
    pred: Values, true: torch.Tensor, groups: list[GroupLabels | None]
) -> tuple[str, float] | None:
    """The ethnicity label with the highest MAE among adults 20-59 (cells of at least MIN_CELL faces);
    None when no cell is that large, or the faces carry no labels."""
    labels = [None if g is None else g["ethnicity"] for g in groups]
    pred = torch.as_tensor(pred).float().cpu()
    errors, adults = (pred - true.cpu()).abs(), _adults(true.cpu())
    maes = {}
    for value in {v for v in labels if v is not None}:
        mask = adults & torch.tensor([v == value for v in labels])
        if int(mask.sum()) >= MIN_CELL:
            maes[value] = float(errors[mask].mean())
    if not maes:
        return None
    worst = max(maes, key=maes.get)
    return worst, maes[worst]
