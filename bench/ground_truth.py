"""The hand-marked faces of ../shared/data/photos/dlib_examples and box overlap: what the detection tests
and the benchmarks that judge detection share."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

DLIB = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos" / "dlib_examples"


def marked_faces(folder: Path = DLIB) -> dict[str, list[tuple[float, float, float, float]]]:
    """dlib's hand-marked face boxes as x1, y1, x2, y2, by file name."""
    truth: dict[str, list[tuple[float, float, float, float]]] = {}
    for name in ("testing.xml", "training.xml"):
        for image in ET.parse(folder / name).getroot().iter("image"):
            truth[image.get("file")] = [
                (
                    float(box.get("left")),
                    float(box.get("top")),
                    float(box.get("left")) + float(box.get("width")),
                    float(box.get("top")) + float(box.get("height")),
                )
                for box in image.iter("box")
            ]
    return truth


def iou(a: list[float] | tuple, b: list[float] | tuple) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0
