"""Each age-network engine on the same crops: ages against fp32 torch, test MAE, and faces per second.

    python scripts/compare_engines.py [MODEL] [--prepared data/prepared/utkface-160] [--split test]

It prints how far each engine moves the ages (mean, 99th percentile, largest) and the split's MAE; the
rules each engine is held to (per-face limits on the tests' real photos, MAE limits on the split, int8's
own rules) are stated once, in docs/performance.md ("Tolerances"). Throughput is measured
with the service's settings (flip on, batch 32). Engines that cannot run on this machine (CUDA ones on
a CPU) are left out; the output names the CPU it ran on.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from inference_service.vision.checkpoint import CheckpointError
from inference_service.vision.devices import cpu_info
from inference_service.vision.engines import ENGINES
from inference_service.vision.ensemble import read_model_metadata
from inference_service.vision.options import AgeModelOptions
from inference_service.vision.pipeline import build_estimator
from training.data import load_split


def measure(checkpoint: str, engine: str, crops: torch.Tensor) -> tuple[torch.Tensor, float]:
    options = AgeModelOptions(path=Path(checkpoint), engine=engine, batch_size=32)
    estimator = build_estimator(options, "cpu")
    estimator.predict_crops(crops[:64])  # warm-up
    started = time.perf_counter()
    ages = torch.from_numpy(estimator.predict_crops(crops).age)
    return ages, len(crops) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", nargs="?", default=str(AgeModelOptions().path), help="or ensemble file")
    parser.add_argument("--prepared", default="data/prepared/utkface-160")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=0, help="a fixed random N of the split's faces (0: all)")
    parser.add_argument("--engines", default=",".join(n for n, e in ENGINES.items() if not e.refuses("cpu")))
    args = parser.parse_args()
    size = read_model_metadata(args.checkpoint).model.input_size
    faces = load_split(args.prepared, args.split, size, args.limit)
    reference, _ = measure(args.checkpoint, "torch", faces.images)
    rows = {}
    for engine in args.engines.split(","):
        try:
            ages, rate = measure(args.checkpoint, engine, faces.images)
        except CheckpointError as exc:  # openvino-int8 without its graph: say so and go on
            rows[engine] = {"error": str(exc)}
            continue
        difference = (ages - reference).abs()
        rows[engine] = {
            "mae": round(float((ages - faces.ages).abs().mean()), 4),
            "max_age_difference_vs_fp32": round(float(difference.max()), 3),
            "p99_age_difference_vs_fp32": round(float(difference.quantile(0.99)), 3),
            "faces_over_0_3_year": int((difference > 0.3).sum()),
            "faces_per_s_with_flip": round(rate, 1),
        }
    report = {
        "checkpoint": args.checkpoint,
        "split": args.split,
        "faces": len(faces),
        "cpu": cpu_info().describe(),
    }
    print(json.dumps({**report, "engines": rows}))


if __name__ == "__main__":
    main()
