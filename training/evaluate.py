"""Accuracy of a checkpoint: on raw labelled photos (detect + align, as served) or on a prepared split.

Raw photos go through the service's own detector and the checkpoint's own
template and input size, so the figure is what a user of the service would see.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from inference_service.vision.checkpoint import read_metadata
from inference_service.vision.decode import ImageError, read_image_file
from inference_service.vision.detector import RetinaFaceDetector
from inference_service.vision.predictor import AgeEstimator

from .metrics import summarise
from .prepare import pick_face
from .sources import Sample


def read_name_list(path: str | Path) -> list[str]:
    """File names, one a line; blank lines and `#` comments ignored (names may hold spaces)."""
    names = []
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            names.append(line.rstrip("\r"))
    if not names:
        raise ValueError(f"{path} lists no file names")
    return names


def select(samples: Iterable[Sample], names: list[str] | None) -> list[Sample]:
    """Keep the samples whose file names are listed (all when `names` is None); all must be found."""
    samples = list(samples)
    if names is None:
        return samples
    by_name = {s.path.name: s for s in samples}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise FileNotFoundError(f"{len(missing)} listed files are not in the input, e.g. {missing[:3]}")
    return [by_name[n] for n in names]


def evaluate_photos(
    checkpoint: str | Path,
    samples: list[Sample],
    device: str = "auto",
    flip: bool = True,
    score_threshold: float = 0.5,
) -> dict:
    """Detect, align (the checkpoint's template and size) and age the labelled face of every photo."""
    estimator = AgeEstimator(checkpoint, device=device, flip=flip, batch_size=64)
    detector = RetinaFaceDetector(score_threshold=score_threshold)
    crops, ages, no_face = [], [], []
    for sample in samples:
        try:
            image = read_image_file(str(sample.path))
        except (ImageError, OSError):
            no_face.append(sample.path.name)
            continue
        face = pick_face(detector.detect(image), image.shape[1], image.shape[0])
        if face is None:
            no_face.append(sample.path.name)
            continue
        crops.append(estimator.align(image, face.landmarks))
        ages.append(sample.age)
    if not crops:
        raise ValueError(f"no face found in any of the {len(samples)} images")
    pred, interval = estimator.predict_crops(np.stack(crops))
    result = summarise(
        torch.from_numpy(pred), torch.tensor(ages), None if interval is None else torch.from_numpy(interval)
    )
    result.update(
        _describe(checkpoint), images=len(samples), no_face=len(no_face), no_face_files=no_face[:20]
    )
    return result


def evaluate_prepared(
    checkpoint: str | Path,
    prepared: str | Path,
    split: str = "test",
    names: list[str] | None = None,
    device: str = "auto",
    flip: bool = True,
) -> dict:
    """Metrics on already-aligned crops of a prepared set (resized to the checkpoint's input size)."""
    from .data import load_split
    from .train import load_and_predict

    meta = read_metadata(checkpoint)
    faces = load_split(
        str(prepared), None if split == "all" else split, meta.model.input_size, originals=names
    )
    pred, interval = load_and_predict(checkpoint, faces, device=device, flip=flip)
    result = summarise(pred, faces.ages, interval)
    result.update(_describe(checkpoint), prepared=str(prepared), split=split)
    return result


def _describe(checkpoint: str | Path) -> dict:
    meta = read_metadata(checkpoint)
    return {
        "checkpoint": str(checkpoint),
        "model_version": meta.version,
        "head": meta.model.head,
        "input_size": meta.model.input_size,
        "interval_mass": meta.model.interval_mass,
    }


def format_report(result: dict) -> str:
    """Human-readable table of overall and per-group MAE."""
    lines = [
        f"checkpoint {result['checkpoint']} ({result['head']} head, {result['input_size']} px, "
        f"version {result['model_version']})",
        f"MAE {result['mae']:.3f} years on {result['n']} faces",
    ]
    if "no_face" in result:
        lines.append(f"no face found in {result['no_face']} of {result['images']} images (not scored)")
    for name, group in result["groups"].items():
        lines.append(f"  {name:>6}: MAE {group['mae']:6.3f}  (n={group['n']})")
    if "interval_coverage" in result:
        lines.append(
            f"{result['interval_mass']:.0%} interval coverage {result['interval_coverage']:.3f}, "
            f"mean width {result['interval_mean_width']:.1f} years"
        )
    return "\n".join(lines)
