"""Fit an ensemble of checkpoints and write its file: `python -m training ensemble`.

Each member ages the validation faces once, at its own input size, through the fp32 reference engine
with flip, as `evaluate` does. For each pooling rule (`vision.ensemble.RULES`) and each subset of the
members, the weights are chosen on a grid over the simplex by validation MAE, so every combination
tried is on record. The file gets all the members named, with the rule that scored best on validation
and a temperature fitted to the pooled distribution by validation NLL (as `calibrate` fits one
network's). Then the test split is scored through the ensemble file itself, by `evaluate_prepared`,
and recorded in it: the test split chooses nothing.
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from inference_service.vision.engines import file_sha256
from inference_service.vision.ensemble import RULES, EnsembleSpec, Member, pool
from inference_service.vision.estimator import AgeEstimator
from inference_service.vision.model_config import ModelConfig, decode_output

from .calibrate import CHECK_THRESHOLDS, distribution_report, fit_temperature
from .data import FaceSet, load_split
from .evaluate import evaluate_prepared, record, score
from .train import code_version

log = logging.getLogger("training")
GRID_STEPS = 20  # weights in steps of 0.05, none zero


def weight_grid(count: int, steps: int = GRID_STEPS) -> list[tuple[float, ...]]:
    """Every way to split 1 into `count` positive multiples of 1/steps."""
    if count == 1:
        return [(1.0,)]
    cuts = itertools.combinations(range(1, steps), count - 1)
    return [tuple(np.diff([0, *c, steps]) / steps) for c in cuts]


def _mae(logits: np.ndarray, ages: np.ndarray, cfg: ModelConfig) -> float:
    return float(np.abs(decode_output(logits, cfg).age - ages).mean())


def best_weights(
    logits: list[np.ndarray], configs: list[ModelConfig], ages: np.ndarray, rule: str
) -> tuple[tuple[float, ...], float]:
    """The grid weights with the lowest validation MAE under `rule`, and that MAE."""
    scored = [(_mae(pool(logits, configs, w, rule), ages, configs[0]), w) for w in weight_grid(len(logits))]
    mae, weights = min(scored)
    return tuple(round(float(v), 4) for v in weights), round(mae, 4)


def combinations_report(
    names: list[str], logits: list[np.ndarray], configs: list[ModelConfig], ages: np.ndarray
) -> list[dict]:
    """Validation MAE of every subset of the members under every rule, each with its best weights."""
    rows = []
    for size in range(1, len(names) + 1):
        for subset in itertools.combinations(range(len(names)), size):
            for rule in RULES if size > 1 else RULES[:1]:
                chosen = [logits[i] for i in subset], [configs[i] for i in subset]
                weights, mae = best_weights(*chosen, ages, rule)
                rows.append(
                    {"members": [names[i] for i in subset], "rule": rule, "weights": weights, "val_mae": mae}
                )
    return rows


def validation_logits(checkpoints: list[str | Path], prepared: str | Path) -> tuple[list, list, FaceSet]:
    """Each member's flip-averaged fp32 logits on the validation split, at its own input size."""
    logits, configs = [], []
    for checkpoint in checkpoints:
        member = AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine="torch", batch_size=64)
        faces = load_split(str(prepared), "val", member.model_config.input_size)
        logits.append(member.predict_logits(faces.images))
        configs.append(member.model_config)
        log.info("%s: validation logits of %d faces", checkpoint, len(faces))
    return logits, configs, faces


def calibration_record(pooled: np.ndarray, faces: FaceSet, config: ModelConfig, temperature: float) -> dict:
    """What `calibrate` records for one network, for the pooled distribution: the fit and its effect."""
    logits, before = torch.from_numpy(pooled), replace(config, temperature=1.0)
    return {
        "method": "temperature scaling of the pooled distribution (NLL of the whole-year age)",
        "split": "val",
        "n": len(faces),
        "temperature": temperature,
        "before": distribution_report(logits, faces.ages, before),
        "after": distribution_report(logits, faces.ages, replace(config, temperature=temperature)),
    }


def _fitted(checkpoints: list[str | Path], prepared: str | Path) -> dict:
    """Rule, weights and temperature chosen on validation, with the figures that chose them."""
    logits, configs, faces = validation_logits(checkpoints, prepared)
    ages = faces.ages.numpy().astype(np.float32)
    tried = combinations_report([Path(c).name for c in checkpoints], logits, configs, ages)
    everyone = [row for row in tried if len(row["members"]) == len(checkpoints)]
    chosen = min(everyone, key=lambda row: row["val_mae"])
    pooled = pool(logits, configs, chosen["weights"], chosen["rule"])
    temperature = fit_temperature(torch.from_numpy(pooled), faces.ages, configs[0])
    cfg = replace(configs[0], temperature=temperature)
    val = score(decode_output(pooled, cfg), faces.ages, cfg, list(CHECK_THRESHOLDS), faces.groups)
    metrics = {
        "val_mae": val["mae"],
        "val": val,
        "calibration": calibration_record(pooled, faces, configs[0], temperature),
        "combinations_tried": tried,
    }
    return {
        "rule": chosen["rule"],
        "weights": chosen["weights"],
        "temperature": temperature,
        "metrics": metrics,
    }


def _fitted_from(reference: str | Path, count: int) -> dict:
    """What a validation-fitted ensemble chose, for members retrained on train + validation (nothing left
    held out to fit on); its validation figures stay on record as the ones that chose."""
    spec = EnsembleSpec.read(reference)
    if len(spec.members) != count:
        raise ValueError(f"{reference} has {len(spec.members)} members, not {count}")
    metrics = {
        "fit_from": {
            "file": Path(reference).name,
            "sha256": file_sha256(Path(reference)),
            "version": spec.version,
        },
        **{
            k: v
            for k, v in spec.metrics.items()
            if k in ("val_mae", "val", "calibration", "combinations_tried")
        },
    }
    return {"rule": spec.rule, "weights": spec.weights, "temperature": spec.temperature, "metrics": metrics}


def fit_ensemble(
    checkpoints: list[str | Path],
    prepared: str | Path,
    out: str | Path,
    name: str,
    version: str,
    command: str,
    fit_from: str | Path | None = None,
) -> dict:
    """Fit weights, rule and temperature on validation (or take them from `fit_from`); write `out`; score and
    record the test split."""
    out, folder = Path(out), Path(out).parent.resolve()
    chosen = _fitted_from(fit_from, len(checkpoints)) if fit_from else _fitted(checkpoints, prepared)
    spec = EnsembleSpec(
        name=name,
        version=version,
        members=[
            Member(os.path.relpath(Path(c).resolve(), folder), file_sha256(Path(c)), w)
            for c, w in zip(checkpoints, chosen["weights"])
        ],
        rule=chosen["rule"],
        temperature=chosen["temperature"],
        code_version=code_version(),
        metrics=chosen["metrics"],
    )
    spec.write(out)
    test = evaluate_prepared(
        out, prepared, "test", device="cpu", checks=list(CHECK_THRESHOLDS), engine="torch"
    )
    checks = ",".join(str(t) for t in CHECK_THRESHOLDS)
    evaluated = (
        f"python -m training evaluate --checkpoint {out} --prepared {prepared} --split test --checks {checks}"
    )
    record(out, "test", test, f"{evaluated} (run by: {command})")
    return {
        "ensemble": str(out),
        "rule": spec.rule,
        "weights": chosen["weights"],
        "temperature": spec.temperature,
        "val_mae": chosen["metrics"].get("val_mae"),
        "test_mae": test["mae"],
        "combinations_tried": chosen["metrics"].get("combinations_tried"),
    }
