"""Is a new checkpoint measurably better than the shipped one? A paired bootstrap on the same faces.

    python scripts/compare_checkpoints.py runs/<stage>/best.safetensors [--against CHECKPOINT]

Both checkpoints age the same prepared split through the service's `AgeEstimator` (fp32 torch, the reference,
flip on); the per-face absolute errors are paired, and 5,000 bootstrap resamples of the faces give a
95 % interval for the MAE difference. The shipped checkpoint is replaced only when that interval
lies below zero (each replacement adds ~47 MB to the repository's history).
"""

from __future__ import annotations

import argparse
import json

import torch

from inference_service.vision.checkpoint import read_metadata
from inference_service.vision.estimator import AgeEstimator
from training.data import FaceSet, load_split


def errors(checkpoints: list[str], prepared: str, split: str) -> list[torch.Tensor]:
    """Per-face absolute errors of each checkpoint; the split is read once per input size."""
    splits: dict[int, FaceSet] = {}
    out = []
    for checkpoint in checkpoints:
        size = read_metadata(checkpoint).model.input_size
        if size not in splits:
            splits[size] = load_split(prepared, split, size, 0)
        faces = splits[size]
        estimator = AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine="torch")  # fp32 reference
        out.append((torch.from_numpy(estimator.predict_crops(faces.images).age) - faces.ages).abs())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint")
    parser.add_argument("--against", default="models/age-resnet50.safetensors", help="(the shipped one)")
    parser.add_argument("--prepared", default="data/prepared/utkface-160")
    parser.add_argument("--split", default="test")
    parser.add_argument("--resamples", type=int, default=5000)
    args = parser.parse_args()
    new, old = errors([args.checkpoint, args.against], args.prepared, args.split)
    diff = new - old
    picks = torch.randint(
        0, len(diff), (args.resamples, len(diff)), generator=torch.Generator().manual_seed(0)
    )
    means = diff[picks].mean(dim=1)
    low, high = torch.quantile(means, torch.tensor([0.025, 0.975])).tolist()
    print(
        json.dumps(
            {
                "faces": len(diff),
                "mae": {"new": round(float(new.mean()), 4), "against": round(float(old.mean()), 4)},
                "difference": round(float(diff.mean()), 4),
                "interval_95": [round(low, 4), round(high, 4)],
                "new_is_better": high < 0,
            }
        )
    )


if __name__ == "__main__":
    main()
