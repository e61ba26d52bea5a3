"""How much the cheaper-pixel levers move ages: reduced JPEG decode and a smaller detector input.

Every photo under ../shared/data/photos goes through the service's pipeline (the shipped model,
service.cfg's engine) with the default settings, then again with each lever; faces are matched
by box overlap and the per-face age differences reported. The yardstick is what a user re-saving
the photo as JPEG quality 90 does to the ages with the default settings: a lever whose
differences stay at that level costs no accuracy a user could tell from the photo itself.

Speed is not measured here (`make bench` with the setting in a config is the yardstick for that).

Usage: python bench/experiments/pixel_levers.py [--model PATH]
"""

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, ".")
from inference_service.settings import Settings
from inference_service.vision.decode import decode_image
from inference_service.vision.pipeline import build_detector, build_pipeline
from inference_service.vision.predictor import FacePipeline

SIDE = 100  # a face box at least this wide gives the 112 px crop from real pixels, not upsampled ones
PHOTOS = sorted(p for p in Path("../shared/data/photos").rglob("*.jpg") if p.name != "dogs.jpg")


def iou(a, b):
    x0, y0 = np.maximum(a[:2], b[:2])
    x1, y1 = np.minimum(a[2:], b[2:])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def resaved(data: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(decode_image(data).pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def run(pipeline, data: bytes, min_side: int):
    prediction = pipeline(decode_image(data, min_side=min_side))
    return [(np.array(f.box), f.age) for f in prediction.faces]


def compare(reference, other):
    """(age difference, face's shorter box side) per matched face; faces missed; faces extra."""
    diffs, missing = [], 0
    for box, age in reference:
        scores = [iou(box, b) for b, _ in other]
        if not scores or max(scores) < 0.5:
            missing += 1
            continue
        diffs.append((other[int(np.argmax(scores))][1] - age, min(box[2:] - box[:2])))
    return diffs, missing, len(other) - (len(reference) - missing)


def summary(diffs) -> str:
    if not len(diffs):
        return "none"
    diffs = np.abs(np.array(diffs))
    return f"n {len(diffs)} mean {diffs.mean():.2f} p90 {np.percentile(diffs, 90):.2f} max {diffs.max():.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    args = parser.parse_args()
    settings = Settings.load()
    options = settings.pipeline_options(model_path=args.model)
    pipeline = build_pipeline(options)
    variants = {
        "re-saved JPEG q90 (yardstick)": (pipeline, 0, True),
        "decode_min_side 960": (pipeline, 960, False),
        "decode_min_side 768": (pipeline, 768, False),
    }
    for side in (768, 640):  # the same age model behind a detector that sees a smaller copy
        detector = build_detector(settings.pipeline_options(detector_max_side=side))
        smaller = FacePipeline(detector, pipeline.estimator)
        variants[f"detector_max_side {side}"] = (smaller, 0, False)
    smaller = variants["detector_max_side 640"][0]
    variants["decode_min_side 768 + detector_max_side 640"] = (smaller, 768, False)
    print(f"model {options.model_path}, engine {pipeline.estimator.engine}, {len(PHOTOS)} photos")
    reference = {path: run(pipeline, path.read_bytes(), 0) for path in PHOTOS}
    faces = sum(len(r) for r in reference.values())
    print(f"default settings: {faces} faces")
    for name, (pipe, min_side, resave) in variants.items():
        diffs, missing, extra = [], 0, 0
        for path in PHOTOS:
            data = path.read_bytes()
            found = run(pipe, resaved(data) if resave else data, min_side)
            d, m, e = compare(reference[path], found)
            diffs += d
            missing += m
            extra += e
        large = [d for d, side in diffs if side >= SIDE]
        small = [d for d, side in diffs if side < SIDE]
        print(
            f"{name}: faces matched {len(diffs)}/{faces}, missed {missing}, extra {extra}\n"
            f"  |age diff| years, all: {summary([d for d, _ in diffs])}\n"
            f"  faces >= {SIDE} px: {summary(large)}; smaller: {summary(small)}"
        )


if __name__ == "__main__":
    main()
