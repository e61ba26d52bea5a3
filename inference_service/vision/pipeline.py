"""Image in, faces with ages out: the detector and the age model together, and the one factory for them.

`FacePipeline` detects every face, aligns each one exactly as training did and ages them in one
batch. `build_pipeline` makes it from the two option sections (`options.py`) the service's settings
hold; the training CLI's `predict`, `evaluate`, `prepare` and `template` build from the same
sections, so a photo meets the same detector and age model whichever door it comes through.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .checkpoint import CheckpointMetadata
from .decode import DecodedImage
from .detector import Detection, FaceDetector, RetinaFaceDetector
from .ensemble import EnsembleEstimator, is_ensemble
from .estimator import AgeEstimator, Estimator
from .model_config import AgeOutput
from .options import AgeModelOptions, DetectorOptions


@dataclass
class FaceResult:
    box: list[float]
    score: float
    landmarks: list[list[float]]
    age: float
    age_interval: list[float] | None = None
    # The calibrated age distribution (bins head): the API's age checks are read from it.
    distribution: np.ndarray | None = field(default=None, repr=False)


@dataclass
class Prediction:
    faces: list[FaceResult]
    truncated: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)


class FacePipeline:
    """Detect every face, align each one exactly as training did, and age them in one batch."""

    def __init__(self, detector: FaceDetector, estimator: Estimator, max_faces: int = 100):
        self.detector = detector
        self.estimator = estimator
        self.max_faces = max_faces

    @property
    def metadata(self) -> CheckpointMetadata:
        return self.estimator.metadata

    def __call__(self, image: np.ndarray | DecodedImage) -> Prediction:
        """Faces with ages, in full-resolution coordinates of the upright image.

        Given a reduced `DecodedImage`, detection runs on the reduced copy; a face
        whose crop would be upsampled from it is cropped from the full-resolution
        pixels instead, so small faces lose nothing.
        """
        return self.predict_many([image])[0]

    def predict_many(self, images: Sequence[np.ndarray | DecodedImage]) -> list[Prediction]:
        """`__call__` for several images whose faces share the age network's batches.

        Detection and alignment stay per image; the crops of all images go through the age
        model together, which is what keeps a bulk run's forward passes full. Each image's
        `age` timing is that shared pass.
        """
        located = [self._locate(image) for image in images]
        crops = [crop for item in located for crop in item.crops]
        t0 = time.perf_counter()
        out = self.estimator.predict_crops(np.stack(crops)) if crops else None
        age_ms = round((time.perf_counter() - t0) * 1000, 1)
        predictions, start = [], 0
        for item in located:
            faces = [_face(d, item.to_full, out, start + i) for i, d in enumerate(item.detections)]
            start += len(item.detections)
            timings = {**item.timings_ms, "age": age_ms if item.detections else 0.0}
            predictions.append(Prediction(faces=faces, truncated=item.truncated, timings_ms=timings))
        return predictions

    def _locate(self, image: np.ndarray | DecodedImage) -> _Located:
        """Detect (at most `max_faces`, the largest) and align the faces of one image."""
        t0 = time.perf_counter()
        decoded = image if isinstance(image, DecodedImage) else None
        pixels = decoded.pixels if decoded is not None else image
        sx, sy = decoded.scale_xy if decoded is not None else (1.0, 1.0)
        detections: list[Detection] = self.detector.detect(pixels)
        truncated = len(detections) > self.max_faces
        if truncated:
            detections = sorted(detections, key=lambda d: d.area, reverse=True)[: self.max_faces]
        t1 = time.perf_counter()
        to_full = np.array([sx, sy], dtype=np.float32)
        full: np.ndarray | None = None
        crops = []
        for d in detections:
            if decoded is not None and decoded.reduced and self.estimator.needs_more_pixels(d.landmarks):
                if full is None:
                    full = decoded.full_resolution()
                crops.append(self.estimator.align(full, d.landmarks / to_full))
            else:
                crops.append(self.estimator.align(pixels, d.landmarks))
        timings = {"detect": round((t1 - t0) * 1000, 1), "align": round((time.perf_counter() - t1) * 1000, 1)}
        return _Located(detections, crops, to_full, truncated, timings)


@dataclass
class _Located:
    """One image's faces, detected and aligned, waiting for the age model."""

    detections: list[Detection]
    crops: list[np.ndarray]
    to_full: np.ndarray  # detector pixels to full-resolution pixels, per axis
    truncated: bool
    timings_ms: dict[str, float]


def _face(d: Detection, to_full: np.ndarray, out: AgeOutput | None, i: int) -> FaceResult:
    """Detection `d` and row `i` of the age model's output, in full-resolution coordinates."""
    assert out is not None
    box = d.box / np.tile(to_full, 2)
    landmarks = d.landmarks / to_full
    interval = None if out.interval is None else [round(float(v), 1) for v in out.interval[i]]
    return FaceResult(
        box=[round(float(v), 1) for v in box],
        score=round(float(d.score), 4),
        landmarks=[[round(float(x), 1), round(float(y), 1)] for x, y in landmarks],
        age=round(float(out.age[i]), 1),
        age_interval=interval,
        distribution=None if out.probabilities is None else out.probabilities[i],
    )


def build_detector(options: DetectorOptions) -> RetinaFaceDetector:
    return RetinaFaceDetector(options)


def build_estimator(options: AgeModelOptions, device: str) -> Estimator:
    """The age model `options.path` names: one checkpoint, or an ensemble file of several."""
    kind = EnsembleEstimator if is_ensemble(options.path) else AgeEstimator
    estimator = kind.from_options(options, device)
    if options.torch_threads and "torch" in sys.modules:  # only the torch engines load it
        import torch

        torch.set_num_threads(options.torch_threads)
    return estimator


def build_pipeline(device: str, detector: DetectorOptions, age_model: AgeModelOptions) -> FacePipeline:
    """The one factory: the service and the training CLI's `predict` both come through here."""
    return FacePipeline(build_detector(detector), build_estimator(age_model, device), detector.max_faces)
