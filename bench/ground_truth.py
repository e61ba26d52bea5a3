"""What the detection tests and the benchmarks that judge detection share: the hand-marked faces of
../shared/data/photos/dlib_examples, and a big crowd photo made from ../shared photos (box overlap is
`inference_service.vision.boxes.iou`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
DLIB = PHOTOS / "dlib_examples"
GROUP = PHOTOS / "pexels" / "pexels-andrea-piacquadio-2672979.jpg"  # five people


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


def crowd_mosaic(columns: int = 4, rows: int = 3, width: int = 1000) -> np.ndarray:
    """A phone-sized crowd photo (4000 x 3000 or so, RGB): the 24-face collage and the five-person group,
    each shrunk to `width` pixels, in a grid. Its faces are 45 to 100 pixels wide at full resolution, so the
    detector's 1024 px copy shrinks the smallest under the network's smallest anchor."""
    from inference_service.vision.decode import read_image_file

    sources = [read_image_file(str(path)) for path in (DLIB / "bald_guys.jpg", GROUP)]
    shrink = cv2.INTER_AREA
    cells = [
        cv2.resize(im, (width, round(im.shape[0] * width / im.shape[1])), interpolation=shrink)
        for im in sources
    ]
    height = max(cell.shape[0] for cell in cells)
    cells = [np.pad(cell, ((0, height - cell.shape[0]), (0, 0), (0, 0))) for cell in cells]
    grid = [[cells[(r + c) % len(cells)] for c in range(columns)] for r in range(rows)]
    return np.ascontiguousarray(np.vstack([np.hstack(row) for row in grid]))
