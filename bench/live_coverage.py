"""Does a live track's narrowed interval still hold what it claims? A check with the real model.

    PYTHONPATH=. .venv/bin/python bench/live_coverage.py [--chips 200] [--views 8] [--out FILE]

Live mode combines a track's recent frames by a tempered normalised product, counting at most
`maxEffectiveFrames` frames of evidence (frontend/src/live/settings.json; docs/live-mode.md). Here
each of `--chips` UTKFace chips of the **validation** split (data/prepared/utkface-160/index.csv; never
a test-split face) is shown `--views` times, each view changed the way a webcam changes a face
between frames (shift, scale, a few degrees of roll, light, blur, JPEG quality, mirror), padded and
run through the service's own pipeline (detect, align, age). Each view's calibrated distribution is
one "frame"; the combined distribution's 80 % interval should hold the true age for about 80 % of
the chips. Printed for several caps (1 = the geometric mean, no narrowing), beside single frames.
Validation faces fitted the temperature, so these figures lean slightly optimistic.

One-off measurement; it produces the coverage table of docs/live-mode.md (bench/results/live-coverage.json).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps
from processes import emit

from inference_service.inference import pipeline_from_settings
from inference_service.settings import Settings
from inference_service.vision.model_config import quantile

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "data" / "prepared" / "utkface-160" / "index.csv"
CHIPS = ROOT.parent / "shared" / "data" / "utkface"
LIVE = json.loads((ROOT / "frontend" / "src" / "live" / "settings.json").read_text())
CAPS = (1.0, 1.5, 2.0, 3.0, 5.0)


def val_chips(count: int, seed: int) -> list[tuple[Path, float]]:
    """`count` validation-split chips, spread over ages (sorted by age, every k-th)."""
    with INDEX.open() as handle:
        rows = [
            r for r in csv.DictReader(handle) if r["split"] == "val" and (CHIPS / r["original"]).is_file()
        ]
    random.Random(seed).shuffle(rows)
    rows.sort(key=lambda r: float(r["age"]))
    step = max(1, len(rows) // count)
    return [(CHIPS / r["original"], float(r["age"])) for r in rows[::step][:count]]


def view(chip: Image.Image, rng: random.Random) -> np.ndarray:
    """One webcam-like frame of the chip: moved, scaled, turned, relit, blurred, recompressed, padded."""
    image = chip.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BILINEAR, expand=False)
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    scale = rng.uniform(0.9, 1.1)
    side = round(chip.width * scale)
    image = image.resize((side, side), Image.Resampling.BILINEAR)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.2))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.85, 1.15))
    encoded = io.BytesIO()
    image.save(encoded, "JPEG", quality=rng.randint(60, 90))
    image = Image.open(encoded).convert("RGB")
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    canvas = Image.new("RGB", (side * 2, side * 2), (118, 118, 118))
    canvas.paste(image, (side // 2 + rng.randint(-12, 12), side // 2 + rng.randint(-12, 12)))
    return np.asarray(canvas)


def combine(frames: np.ndarray, cap: float) -> np.ndarray:
    """frontend/src/live/distribution.ts `combine`: p ∝ Π p_i^(min(N, cap) / N)."""
    weight = min(len(frames), cap) / len(frames)
    logs = weight * np.log(np.maximum(frames, 1e-7)).sum(axis=0)
    p = np.exp(logs - logs.max())
    return p / p.sum()


def summary(distributions: list[np.ndarray], ages: list[float], config) -> dict:
    probs = np.stack(distributions)
    tail = (1 - LIVE["intervalMass"]) / 2
    low, high = quantile(probs, tail, config), quantile(probs, 1 - tail, config)
    truth = np.asarray(ages)
    means = probs @ np.arange(config.age_min, config.age_max + 1)
    return {
        "coverage": round(float(((truth >= low) & (truth <= high)).mean()), 3),
        "width_years": round(float((high - low).mean()), 2),
        "mae_years": round(float(np.abs(means - truth).mean()), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chips", type=int, default=200)
    parser.add_argument("--views", type=int, default=8, help="frames per face (live mode keeps at most 10)")
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    pipeline = pipeline_from_settings(Settings())
    config = pipeline.estimator.model_config
    rng = random.Random(args.seed)
    per_chip, ages, missed = [], [], 0
    for path, age in val_chips(args.chips, args.seed):
        chip = Image.open(path).convert("RGB")
        predictions = pipeline.predict_many([view(chip, rng) for _ in range(args.views)])
        frames = [max(p.faces, key=lambda f: f.score).distribution for p in predictions if p.faces]
        if len(frames) < args.views:
            missed += 1
            continue
        per_chip.append(np.stack(frames))
        ages.append(age)
    report = {
        "chips": len(per_chip),
        "chips_with_a_missed_view": missed,
        "views": args.views,
        "single_frame": summary(
            [f for chip in per_chip for f in chip], [a for a in ages for _ in range(args.views)], config
        ),
        "combined": {str(cap): summary([combine(c, cap) for c in per_chip], ages, config) for cap in CAPS},
        "page_cap": LIVE["maxEffectiveFrames"],
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
