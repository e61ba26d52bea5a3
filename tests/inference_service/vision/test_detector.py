"""The detector graph gives the same faces on either runtime, on every ../shared photo."""

from __future__ import annotations

import numpy as np
import pytest

from inference_service.vision.decode import read_image_file
from inference_service.vision.detector import RetinaFaceDetector
from inference_service.vision.options import DetectorOptions

from ..server import PHOTOS

SHARED = sorted(PHOTOS.glob("*/*.jpg"))


@pytest.fixture(scope="module")
def on_openvino() -> RetinaFaceDetector:
    return RetinaFaceDetector(DetectorOptions(runtime="openvino"))


def test_onnxruntime_is_the_default_runtime(detector: RetinaFaceDetector) -> None:
    """Both measured at the same speed here (docs/performance.md); ONNX Runtime is the default."""
    assert detector.options.runtime == "onnxruntime"
    assert detector.describe()["runtime"] == "onnxruntime"


@pytest.mark.parametrize("path", SHARED, ids=lambda p: p.name)
def test_both_runtimes_find_the_same_faces(
    path, detector: RetinaFaceDetector, on_openvino: RetinaFaceDetector
) -> None:
    """fp32 on both: the same faces in the same order, boxes and landmarks within a tenth of a pixel."""
    image = read_image_file(str(path))
    found, reference = on_openvino.detect(image), detector.detect(image)
    assert len(found) == len(reference)
    for a, b in zip(found, reference):
        assert np.abs(a.box - b.box).max() < 0.1
        assert np.abs(a.landmarks - b.landmarks).max() < 0.1
        assert abs(a.score - b.score) < 1e-4
