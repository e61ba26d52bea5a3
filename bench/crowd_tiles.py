"""Recall and cost of the detector's small-face tiles, against a full-resolution pass.

    python bench/crowd_tiles.py [--repeats 5] [--out FILE]

For the crowd mosaic of `bench/ground_truth.py` (a 4000 px photo made from ../shared photos) and for every
../shared photo, the detector runs three ways: on its `max_side` copy alone (`small_face` 0), on the copy
plus the full-resolution tiles around its small faces (the shipped `service.cfg` setting), and on the
whole photo at full resolution (`max_side` 8192, the reference). Prints one JSON object: for each photo,
the faces each way finds, how many of the reference's faces each finds (box IoU >= 0.5), faces the
reference lacks, and the median milliseconds of each way. Figures: docs/performance.md, "Small faces in
big photos".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.ground_truth import PHOTOS, crowd_mosaic  # noqa: E402
from bench.processes import emit  # noqa: E402
from inference_service.settings import Settings  # noqa: E402
from inference_service.vision.boxes import iou  # noqa: E402
from inference_service.vision.decode import read_image_file  # noqa: E402
from inference_service.vision.detector import RetinaFaceDetector  # noqa: E402
from inference_service.vision.devices import cpu_info  # noqa: E402


def covered(reference: list, found: list) -> int:
    return sum(any(iou(r.box, f.box) >= 0.5 for f in found) for r in reference)


def timed(detector: RetinaFaceDetector, image, repeats: int) -> tuple[list, float]:
    found, times = detector.detect(image), []
    for _ in range(repeats):
        started = time.perf_counter()
        detector.detect(image)
        times.append(time.perf_counter() - started)
    return found, round(1000 * statistics.median(times), 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    shipped = Settings.load(str(REPO / "service.cfg")).detector
    ways = {
        "copy": RetinaFaceDetector(shipped.model_copy(update={"small_face": 0.0})),
        "copy_and_tiles": RetinaFaceDetector(shipped),
        "full_resolution": RetinaFaceDetector(shipped.model_copy(update={"max_side": 8192})),
    }
    photos = {"crowd_mosaic": crowd_mosaic()}
    photos.update({path.name: read_image_file(str(path)) for path in sorted(PHOTOS.glob("*/*.jpg"))})
    report: dict = {"small_face": shipped.small_face, "max_side": shipped.max_side, "photos": {}}
    for name, image in photos.items():
        runs = {way: timed(detector, image, args.repeats) for way, detector in ways.items()}
        reference = runs["full_resolution"][0]
        report["photos"][name] = {
            "size": list(image.shape[:2]),
            **{
                way: {
                    "faces": len(found),
                    "of_reference": covered(reference, found),
                    "not_in_reference": len(found) - covered(found, reference),
                    "ms": ms,
                }
                for way, (found, ms) in runs.items()
            },
        }
    report["cpu"] = cpu_info().describe()
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
