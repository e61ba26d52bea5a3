"""What the vision tests share: real photos, the real detector and the shipped checkpoint on two engines."""

from __future__ import annotations

import numpy as np
import pytest

from inference_service.vision.decode import read_image_file
from inference_service.vision.detector import RetinaFaceDetector
from inference_service.vision.estimator import AgeEstimator

from ..server import CHECKPOINT, PHOTOS

REAL_PHOTOS = [
    PHOTOS / "pexels" / "pexels-andrea-piacquadio-774909.jpg",
    PHOTOS / "pexels" / "pexels-andrea-piacquadio-2672979.jpg",
    PHOTOS / "pexels" / "pexels-alexey-makhinko-929436.jpg",
    PHOTOS / "dlib_examples" / "bald_guys.jpg",
]


@pytest.fixture(scope="session")
def detector() -> RetinaFaceDetector:
    return RetinaFaceDetector()


@pytest.fixture(scope="session")
def plain() -> AgeEstimator:
    """The reference: fp32 eager torch."""
    return AgeEstimator.from_checkpoint(CHECKPOINT, device="cpu", engine="torch")


@pytest.fixture(scope="session")
def fast() -> AgeEstimator:
    """The fast path: ONNX Runtime."""
    return AgeEstimator.from_checkpoint(CHECKPOINT, device="cpu", engine="onnx")


@pytest.fixture(scope="session")
def real_crops(detector: RetinaFaceDetector, plain: AgeEstimator) -> np.ndarray:
    """Every face of REAL_PHOTOS, aligned: at least 25 crops."""
    crops = []
    for path in REAL_PHOTOS:
        image = read_image_file(str(path))
        crops += [plain.align(image, d.landmarks) for d in detector.detect(image)]
    assert len(crops) >= 25
    return np.stack(crops)
