"""The hand-marked faces of ../shared/data/photos/dlib_examples, shared by the detection tests and the
benchmarks that judge detection (box overlap is the tracker's `inference_service.video.tracks.iou`)."""

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
