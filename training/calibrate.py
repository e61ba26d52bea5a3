"""Calibrate a checkpoint's age distribution: temperature scaling fitted on the validation split.

The `bins` head is trained against Gaussian-smoothed labels, so its softmax is
too wide (the 80 % interval held 84 % of test faces). One temperature, fitted by
the negative log-likelihood of the true whole-year age on validation crops, makes
the interval and the age checks' P(age >= T) honest. The fit is written into the
checkpoint's model config, so every consumer of the distribution applies it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as nnf

from inference_service.vision.age_checks import probability_over
from inference_service.vision.checkpoint import read_metadata, rewrite_metadata
from inference_service.vision.estimator import AgeEstimator
from inference_service.vision.model_config import ModelConfig, decode_output

from .metrics import expected_calibration_error, summarise

CHECK_THRESHOLDS = (13, 18, 21, 25)


def nll(logits: torch.Tensor, ages: torch.Tensor, cfg: ModelConfig, temperature: float) -> float:
    """Mean negative log-likelihood of the true whole-year age under softmax(logits / T)."""
    target = ages.round().clamp(cfg.age_min, cfg.age_max).long() - cfg.age_min
    return float(nnf.cross_entropy(logits / temperature, target))


def fit_temperature(logits: torch.Tensor, ages: torch.Tensor, cfg: ModelConfig) -> float:
    """The NLL-minimising temperature: a log-spaced grid, then a finer grid around the best point."""
    grid = torch.logspace(-1.0, 1.0, 81)  # 0.1 .. 10
    best = min(grid.tolist(), key=lambda t: nll(logits, ages, cfg, t))
    fine = torch.linspace(best / 1.06, best * 1.06, 61)
    return round(min(fine.tolist(), key=lambda t: nll(logits, ages, cfg, t)), 4)


def distribution_report(logits: torch.Tensor, ages: torch.Tensor, cfg: ModelConfig) -> dict:
    """Interval coverage, NLL and ECE of P(age >= T) for the checks, under `cfg.temperature`."""
    out = decode_output(logits, cfg)
    report = summarise(out.age, ages, out.interval)
    p_over = probability_over(out.probabilities, list(CHECK_THRESHOLDS), cfg)
    return {
        "nll": round(nll(logits, ages, cfg, cfg.temperature), 4),
        "interval_coverage": report["interval_coverage"],
        "interval_mean_width": report["interval_mean_width"],
        "ece": {
            str(t): round(expected_calibration_error(p_over[:, i], ages >= t), 4)
            for i, t in enumerate(CHECK_THRESHOLDS)
        },
    }


def calibrate(
    checkpoint: str | Path,
    prepared: str | Path,
    out: str | Path | None = None,
    split: str = "val",
    device: str = "auto",
    plot: str | Path | None = None,
) -> dict:
    """Fit the temperature on `split`, write the checkpoint (in place unless `out`), return the figures."""
    from .data import load_split

    meta = read_metadata(checkpoint)
    faces = load_split(str(prepared), split, meta.model.input_size)
    logits = torch.from_numpy(
        AgeEstimator.from_checkpoint(checkpoint, device=device, engine="torch", batch_size=64).predict_logits(
            faces.images
        )
    )
    before_cfg = ModelConfig.from_dict({**meta.model.to_dict(), "temperature": 1.0})
    temperature = fit_temperature(logits, faces.ages, before_cfg)
    meta.model = ModelConfig.from_dict({**meta.model.to_dict(), "temperature": temperature})
    figures = {
        "method": "temperature scaling (NLL of the whole-year age)",
        "split": split,
        "n": len(faces),
        "temperature": temperature,
        "before": distribution_report(logits, faces.ages, before_cfg),
        "after": distribution_report(logits, faces.ages, meta.model),
    }
    meta.metrics = {**meta.metrics, "calibration": figures}
    rewrite_metadata(checkpoint, meta, out or checkpoint)
    if plot:
        from .report import reliability_diagram

        reliability_diagram(logits, faces.ages, before_cfg, meta.model, CHECK_THRESHOLDS, Path(plot))
    return figures


def copy_calibration(checkpoint: str | Path, like: str | Path, out: str | Path | None = None) -> dict:
    """Give `checkpoint` the temperature `like` was fitted, for a member retrained on train + validation.

    Such a member has no held-out split left to fit on; the validation run of its recipe (`like`) has.
    """
    from inference_service.vision.engines import file_sha256

    source, meta = read_metadata(like), read_metadata(checkpoint)
    if source.model.arch != meta.model.arch or source.model.input_size != meta.model.input_size:
        raise ValueError(f"{like} is not the same network and input size as {checkpoint}")
    figures = {
        **source.metrics.get("calibration", {}),
        "copied_from": {"file": Path(like).name, "sha256": file_sha256(Path(like))},
    }
    meta.model = ModelConfig.from_dict({**meta.model.to_dict(), "temperature": source.model.temperature})
    meta.metrics = {**meta.metrics, "calibration": figures}
    rewrite_metadata(checkpoint, meta, out or checkpoint)
    return figures
