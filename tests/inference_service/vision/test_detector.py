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
def on_onnxruntime() -> RetinaFaceDetector:
    return RetinaFaceDetector(DetectorOptions(runtime="onnxruntime"))


def test_openvino_is_the_default_runtime(detector: RetinaFaceDetector) -> None:
    assert detector.options.runtime == "openvino"
    assert detector.describe()["runtime"] == "openvino"


@pytest.mark.parametrize("path", SHARED, ids=lambda p: p.name)
def test_both_runtimes_find_the_same_faces(
    path, detector: RetinaFaceDetector, on_onnxruntime: RetinaFaceDetector
) -> None:
    """fp32 on both: the same faces in the same order, boxes and landmarks within a tenth of a pixel."""
    image = read_image_file(str(path))
    found, reference = detector.detect(image), on_onnxruntime.detect(image)
    assert len(found) == len(reference)
    for a, b in zip(found, reference):
        assert np.abs(a.box - b.box).max() < 0.1
        assert np.abs(a.landmarks - b.landmarks).max() < 0.1
        assert abs(a.score - b.score) < 1e-4
