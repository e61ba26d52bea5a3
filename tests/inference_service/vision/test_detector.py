"""The detector graph gives the same faces on either runtime, on every ../shared photo."""

from __future__ import annotations

import numpy as np
import pytest

from bench.ground_truth import crowd_mosaic
from inference_service.vision.boxes import iou
from inference_service.vision.decode import read_image_file
from inference_service.vision.detector import RetinaFaceDetector, tiles_around
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


def _found(reference: list, found: list) -> int:
    """How many of `reference`'s faces `found` has, at box IoU 0.5 or more."""
    return sum(any(iou(r.box, f.box) >= 0.5 for f in found) for r in reference)


@pytest.mark.parametrize("path", SHARED, ids=lambda p: p.name)
def test_small_face_tiles_change_nothing_where_no_face_is_small(path, detector: RetinaFaceDetector) -> None:
    """No ../shared photo has a face under `small_face` pixels in the detector's copy: the same faces."""
    image = read_image_file(str(path))
    without = RetinaFaceDetector(DetectorOptions(small_face=0)).detect(image)
    found = detector.detect(image)
    assert len(found) == len(without)
    assert all(np.array_equal(a.box, b.box) and a.score == b.score for a, b in zip(found, without))


def test_small_face_tiles_find_the_crowd_the_shrunk_copy_misses(detector: RetinaFaceDetector) -> None:
    """A 4000 px crowd: the 1024 px copy alone misses faces a full-resolution pass finds; the tiles around
    its small faces find them all, and nothing the full-resolution pass does not."""
    crowd = crowd_mosaic()
    reference = RetinaFaceDetector(DetectorOptions(max_side=8192)).detect(crowd)
    copy_alone = RetinaFaceDetector(DetectorOptions(small_face=0)).detect(crowd)
    found = detector.detect(crowd)
    assert len(reference) >= 150 and _found(reference, copy_alone) <= 0.9 * len(reference)
    assert _found(reference, found) >= 0.98 * len(reference)
    assert _found(found, reference) == len(found)  # no face the full-resolution pass lacks
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)


def test_tiles_cover_the_boxes_they_are_asked_for() -> None:
    tiles = tiles_around((2334, 4000), [np.array([10.0, 10.0, 40.0, 40.0])], side=1024, overlap=96)
    assert tiles == [(0, 0, 1024, 1024)]
    edge = tiles_around((2334, 4000), [np.array([3950.0, 2300.0, 3990.0, 2330.0])], side=1024, overlap=96)
    assert edge == [(3712, 1856, 4000, 2334)]
    straddling = tiles_around((2334, 4000), [np.array([920.0, 10.0, 940.0, 30.0])], side=1024, overlap=96)
    assert straddling == [(0, 0, 1024, 1024), (928, 0, 1952, 1024)]
