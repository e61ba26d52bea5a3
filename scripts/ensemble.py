"""Checkpoints alone and as an ensemble on one prepared split: the averaged calibrated distributions.

    python scripts/ensemble.py CHECKPOINT [CHECKPOINT ...] [--prepared data/prepared/utkface-160]
        [--split val] [--checks 13,18,21,25] [--engine torch]

Each checkpoint sees the split at its own input size, through the service's `AgeEstimator` (flip on,
the fp32 torch reference by default). The ensemble's distribution is the mean of the members'
calibrated distributions; its age is that distribution's mean and its interval that distribution's
central 80 %, as `decode_output` reads a single model's. Prints one JSON object: each member's and
the ensemble's figures, from the same `score` as `python -m training evaluate`.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from inference_service.vision.checkpoint import read_metadata
from inference_service.vision.estimator import AgeEstimator
from inference_service.vision.model_config import AgeOutput, quantile
from training.data import load_split
from training.evaluate import score

KEYS = ("mae", "cs5", "groups", "interval_coverage", "interval_mean_width", "age_checks")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--prepared", default="data/prepared/utkface-160")
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--checks", default="13,18,21,25")
    parser.add_argument("--engine", default="torch")
    args = parser.parse_args()
    checks = [int(t) for t in args.checks.split(",") if t]
    report: dict = {"split": args.split, "members": {}}
    outputs, cfg, faces = [], None, None
    for checkpoint in args.checkpoints:
        size = read_metadata(checkpoint).model.input_size
        faces = load_split(args.prepared, args.split, size)
        estimator = AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine=args.engine, batch_size=64)
        out = estimator.predict_crops(faces.images)
        cfg = estimator.model_config
        outputs.append(out)
        result = score(out, faces.ages, cfg, checks, faces.groups)
        report["members"][checkpoint] = {k: result[k] for k in KEYS if k in result}
    if len(outputs) > 1:
        probabilities = np.mean([out.probabilities for out in outputs], axis=0)
        ages = probabilities @ np.arange(cfg.age_min, cfg.age_max + 1, dtype=np.float32)
        tail = (1 - cfg.interval_mass) / 2
        interval = np.stack([quantile(probabilities, tail, cfg), quantile(probabilities, 1 - tail, cfg)], 1)
        ensemble = AgeOutput(age=ages, interval=interval, probabilities=probabilities)
        result = score(ensemble, faces.ages, cfg, checks, faces.groups)
        report["ensemble"] = {k: result[k] for k in KEYS if k in result}
    report["n"] = len(faces.ages)
    print(
        json.dumps(
            report, default=lambda v: float(v) if isinstance(v, np.floating | torch.Tensor) else str(v)
        )
    )


if __name__ == "__main__":
    main()
