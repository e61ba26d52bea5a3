"""Image in, faces with ages out: the detector and the age model together, and the one factory for them.

`FacePipeline` detects every face, aligns each one exactly as training did and ages them in one
batch. `build_pipeline` makes it from the two option sections (`options.py`) the service's settings
hold; the training CLI's `predict`, `evaluate`, `prepare` and `template` build from the same
sections, so a photo meets the same detector and age model whichever door it comes through.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .checkpoint import CheckpointMetadata
from .decode import DecodedImage
from .detector import Detection, FaceDetector, RetinaFaceDetector
from .estimator import AgeEstimator
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

    def __init__(self, detector: FaceDetector, estimator: AgeEstimator, max_faces: int = 100):
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
        faces: list[FaceResult] = []
        t_aligned = t1
        if detections:
            full: np.ndarray | None = None
            crops = []
            for d in detections:
                if decoded is not None and decoded.reduced and self.estimator.needs_more_pixels(d.landmarks):
                    if full is None:
                        full = decoded.full_resolution()
                    crops.append(self.estimator.align(full, d.landmarks / to_full))
                else:
                    crops.append(self.estimator.align(pixels, d.landmarks))
            t_aligned = time.perf_counter()
            out = self.estimator.predict_crops(np.stack(crops))
            ages, intervals, distributions = out.age, out.interval, out.probabilities
            for i, d in enumerate(detections):
                box = d.box / np.tile(to_full, 2)
                landmarks = d.landmarks / to_full
                faces.append(
                    FaceResult(
                        box=[round(float(v), 1) for v in box],
                        score=round(float(d.score), 4),
                        landmarks=[[round(float(x), 1), round(float(y), 1)] for x, y in landmarks],
                        age=round(float(ages[i]), 1),
                        age_interval=None
                        if intervals is None
                        else [round(float(intervals[i][0]), 1), round(float(intervals[i][1]), 1)],
                        distribution=None if distributions is None else distributions[i],
                    )
                )
        t2 = time.perf_counter()
        return Prediction(
            faces=faces,
            truncated=truncated,
            timings_ms={
                "detect": round((t1 - t0) * 1000, 1),
                "align": round((t_aligned - t1) * 1000, 1),
                "age": round((t2 - t_aligned) * 1000, 1),
            },
        )


def build_detector(options: DetectorOptions) -> RetinaFaceDetector:
    return RetinaFaceDetector(options)


def build_estimator(options: AgeModelOptions, device: str) -> AgeEstimator:
    estimator = AgeEstimator.from_options(options, device)
    if options.torch_threads and "torch" in sys.modules:  # only the torch engines load it
        import torch

        torch.set_num_threads(options.torch_threads)
    return estimator


def build_pipeline(device: str, detector: DetectorOptions, age_model: AgeModelOptions) -> FacePipeline:
    """The one factory: the service and the training CLI's `predict` both come through here."""
    return FacePipeline(build_detector(detector), build_estimator(age_model, device), detector.max_faces)
