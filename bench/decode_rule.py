"""What the reduced JPEG decode changes: ages and faces under the `decode_min_side` rule, against a full one.

`python bench/decode_rule.py [--config service.cfg] [--out bench/results/decode-rule-<kind>.json]` runs the
service's pipeline (the shipped model, the engine `auto` picks) on every photo of ../shared/data/photos twice:
decoded in full (`decode_min_side = 0`), and under the rule `decode_min_side = --min-side` (default: the
detector's `max_side`): big JPEGs decode at the largest 1/2, 1/4 or 1/8 scale that keeps the longer side at
that, so the detector still sees a copy of its full size, and a face whose crop would be upsampled from the
reduced copy is cropped from a full decode. Most of those photos are at most 1920 px,
which the rule leaves alone, so each is also tried as a phone-sized photo: scaled up to about 4,000 px on its
longer side and saved as JPEG quality 95 (in memory), the size the rule is for.

For each pair it matches the faces by box IoU and reports the age moves (mean, p99, max), the faces either
side lost, the lowest box IoU, and for the dlib photos with hand-marked faces whether every marked face is
still found (IoU >= 0.5) under the rule. Decode time is in the stage timings of `make bench`; this measures
what the rule costs in answers. For scale, it also reports how far each face's age moves on the full decode
when its landmarks shift by one pixel (the model's own sensitivity to where the crop falls). Ages come from
the pipeline, so the figures name the CPU kind and engine.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT.parent / "shared" / "data" / "photos"
sys.path.insert(0, str(ROOT))
from bench.ground_truth import marked_faces  # noqa: E402
from inference_service.vision.boxes import iou  # noqa: E402

PHONE_SIDE = 4000  # a 12-megapixel phone photo's longer side


def as_phone_photo(data: bytes) -> tuple[bytes, float]:
    """The photo scaled up to PHONE_SIDE on its longer side, as JPEG q95; and the scale."""
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB")
    scale = PHONE_SIDE / max(image.size)
    big = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    big.save(out, "JPEG", quality=95)
    return out.getvalue(), scale


def compare(full: list, ruled: list) -> dict:
    """Faces matched by best IoU: age moves, lowest IoU, and the faces either side has alone."""
    moves, ious, unmatched = [], [], 0
    taken: set[int] = set()
    for face in full:
        scores = [(iou(face.box, other.box), j) for j, other in enumerate(ruled) if j not in taken]
        best, j = max(scores, default=(0.0, -1))
        if best < 0.5:
            unmatched += 1
            continue
        taken.add(j)
        ious.append(best)
        moves.append(abs(face.age - ruled[j].age))
    return {"moves": moves, "ious": ious, "lost": unmatched, "new": len(ruled) - len(taken)}


def jitter_moves(pipeline, pixels: np.ndarray, faces: list) -> list[float]:
    """The model's own sensitivity, for scale: each face's age move when its five landmarks shift by one
    full-resolution pixel right and down (the same decode, the same face)."""
    if not faces:
        return []
    estimator = pipeline.estimator
    landmarks = [np.asarray(face.landmarks, dtype=np.float32) for face in faces]
    crops = [estimator.align(pixels, points + shift) for points in landmarks for shift in (0.0, 1.0)]
    ages = estimator.predict_crops(np.stack(crops)).age
    return [abs(float(ages[i] - ages[i + 1])) for i in range(0, len(ages), 2)]


def main(argv: list[str] | None = None) -> int:
    from inference_service.inference import pipeline_from_settings
    from inference_service.settings import Settings
    from inference_service.vision.decode import decode_image
    from inference_service.vision.devices import cpu_info

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(ROOT / "service.cfg"))
    parser.add_argument(
        "--min-side", type=int, default=0, help="the rule's side (default: detector.max_side)"
    )
    parser.add_argument("--out", help="JSON file (default bench/results/decode-rule-<kind>.json)")
    args = parser.parse_args(argv)
    settings = Settings.load(args.config)
    rule = args.min_side or settings.detector.max_side
    pipeline = pipeline_from_settings(settings)
    truth = marked_faces()
    rows, all_moves, all_ious, jitter, lost, new, marked_missed = [], [], [], [], 0, 0, 0
    for path in sorted(PHOTOS.glob("*/*.jpg")):
        original = path.read_bytes()
        for variant, (data, scale) in (("as is", (original, 1.0)), ("phone size", as_phone_photo(original))):
            full = decode_image(data, settings.max_image_pixels, 0)
            reference = pipeline(full).faces
            jitter += jitter_moves(pipeline, full.pixels, reference)
            decoded = decode_image(data, settings.max_image_pixels, rule)
            ruled = pipeline(decoded).faces
            found = compare(reference, ruled)
            missed = sum(
                not any(iou([v * scale for v in box], face.box) >= 0.5 for face in ruled)
                for box in truth.get(path.name, [])
            )
            rows.append(
                {
                    "photo": f"{path.parent.name}/{path.name}",
                    "variant": variant,
                    "pixels": [decoded.width, decoded.height],
                    "decoded_at": [int(decoded.pixels.shape[1]), int(decoded.pixels.shape[0])],
                    "faces": len(reference),
                    "max_age_move": round(max(found["moves"], default=0.0), 2),
                    "min_iou": round(min(found["ious"], default=1.0), 3),
                    "lost": found["lost"],
                    "new": found["new"],
                    "marked": len(truth.get(path.name, [])),
                    "marked_missed": missed,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
            all_moves += found["moves"]
            all_ious += found["ious"]
            lost, new, marked_missed = lost + found["lost"], new + found["new"], marked_missed + missed
    moves = np.asarray(all_moves)
    summary = {
        "cpu": cpu_info().describe(),
        "engine": settings.age_model.engine,
        "model": pipeline.metadata.version,
        "decode_min_side": rule,
        "faces_matched": int(moves.size),
        "age_move_mean": round(float(moves.mean()), 3),
        "age_move_p99": round(float(np.percentile(moves, 99)), 3),
        "age_move_max": round(float(moves.max()), 3),
        "faces_over_0.5": int((moves > 0.5).sum()),
        "min_box_iou": round(min(all_ious), 3),
        "one_pixel_shift_move_mean": round(float(np.mean(jitter)), 3),
        "one_pixel_shift_move_p99": round(float(np.percentile(jitter, 99)), 3),
        "faces_lost": lost,
        "faces_new": new,
        "marked_faces_missed": marked_missed,
    }
    print(json.dumps(summary, indent=1))
    out = Path(args.out or ROOT / "bench" / "results" / f"decode-rule-{cpu_info().kind}.json")
    out.write_text(json.dumps({"summary": summary, "photos": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
