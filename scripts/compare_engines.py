"""Each age-network engine on the same crops: ages against fp32 torch, test MAE, and faces per second.

    python scripts/compare_engines.py [CHECKPOINT] [--prepared data/prepared/utkface-160] [--split test]

The acceptance rule for a faster engine (issue 15): every face within 0.3 year of fp32 torch and the
split's MAE within 0.05 year. Throughput is measured with the service's settings (flip on, batch 32).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from inference_service.vision.checkpoint import read_metadata
from inference_service.vision.predictor import AgeEstimator
from training.data import load_split

ENGINES = ("torch", "onnx", "torch-bf16")


def measure(checkpoint: str, engine: str, crops: torch.Tensor) -> tuple[torch.Tensor, float]:
    estimator = AgeEstimator(checkpoint, device="cpu", engine=engine, batch_size=32)
    estimator.predict_crops(crops[:64])  # warm-up
    started = time.perf_counter()
    ages = estimator.predict_crops(crops).age
    return ages, len(crops) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", nargs="?", default="models/age-resnet50.safetensors")
    parser.add_argument("--prepared", default="data/prepared/utkface-160")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=0, help="a fixed random N of the split's faces (0: all)")
    args = parser.parse_args()
    size = read_metadata(args.checkpoint).model.input_size
    faces = load_split(args.prepared, args.split, size, args.limit)
    reference = None
    rows = {}
    for engine in ENGINES:
        ages, rate = measure(args.checkpoint, engine, faces.images)
        reference = ages if reference is None else reference
        rows[engine] = {
            "mae": round(float((ages - faces.ages).abs().mean()), 4),
            "max_age_difference_vs_fp32": round(float((ages - reference).abs().max()), 3),
            "faces_per_s_with_flip": round(rate, 1),
        }
    print(
        json.dumps({"checkpoint": args.checkpoint, "split": args.split, "faces": len(faces), "engines": rows})
    )


if __name__ == "__main__":
    main()
