"""Measure the alignment template: mean RetinaFace landmarks on already-aligned chips.

The service aligns every detected face onto this template, so a face cut out of
a phone photo looks like the chips the model learned from. It is measured on the
training chips themselves (UTKFace "aligned & cropped"), as fractions of the
chip side, then made left-right symmetric so that a mirrored crop is still aligned.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inference_service.vision.decode import ImageError, read_image_file

from .prepare import labelled_photo_detector, pick_face

_SUFFIXES = (".jpg", ".jpeg", ".png")
# Landmark order: right eye, left eye, nose, right mouth corner, left mouth corner.
_MIRROR = (1, 0, 2, 4, 3)


def symmetrise(points: np.ndarray) -> np.ndarray:
    """Average a normalised 5-point template with its mirror image (x -> 1 - x, left <-> right)."""
    points = np.asarray(points, dtype=np.float64)
    mirrored = points[list(_MIRROR)].copy()
    mirrored[:, 0] = 1.0 - mirrored[:, 0]
    return (points + mirrored) / 2


def measure_template(folder: str | Path, limit: int = 0, score_threshold: float = 0.5) -> dict:
    """Mean normalised landmarks over the chips of `folder` (first `limit` by name; 0 = all)."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and p.name.lower().endswith(_SUFFIXES))
    if limit:
        files = files[:limit]
    if not files:
        raise ValueError(f"no images in {folder}")
    detector = labelled_photo_detector(score_threshold)
    points, missed = [], 0
    for path in files:
        try:
            image = read_image_file(str(path))
        except (ImageError, OSError):
            missed += 1
            continue
        face = pick_face(detector.detect(image), image.shape[1], image.shape[0])
        if face is None:
            missed += 1
            continue
        points.append(face.landmarks / np.array([image.shape[1], image.shape[0]], dtype=np.float64))
    if not points:
        raise ValueError(f"no face found in any of the {len(files)} images of {folder}")
    stacked = np.stack(points)
    mean = stacked.mean(axis=0)
    return {
        "images": len(files),
        "measured": len(points),
        "no_face": missed,
        "mean": np.round(mean, 4).tolist(),
        "std": np.round(stacked.std(axis=0), 4).tolist(),
        "template": np.round(symmetrise(mean), 4).tolist(),
    }


def as_python(template: list[list[float]]) -> str:
    """The template as the constant to paste into inference_service/vision/align.py."""
    rows = "\n".join(f"    ({x:.4f}, {y:.4f})," for x, y in template)
    return f"UTKFACE_TEMPLATE: tuple[tuple[float, float], ...] = (\n{rows}\n)"
