"""Decoding uploads: the opt-in reduced JPEG decode keeps full-resolution, upright coordinates."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference_service.vision.decode import decode_image
from inference_service.vision.detector import RetinaFaceDetector
from inference_service.vision.estimator import AgeEstimator
from inference_service.vision.pipeline import FacePipeline

from .conftest import REAL_PHOTOS

REDUCED_MIN_SIDE = 768  # reduces every benchmark photo (1920-1986 px) by half


def _match(boxes: np.ndarray, others: np.ndarray) -> list[int]:
    return [int(np.argmin(np.abs(others - box).sum(axis=1))) for box in boxes]


@pytest.mark.parametrize("path", REAL_PHOTOS[:2], ids=lambda p: p.stem)
def test_reduced_decode_gives_full_resolution_boxes(
    path: Path, detector: RetinaFaceDetector, fast: AgeEstimator
) -> None:
    """Opt-in reduced JPEG decode: same faces, boxes in full-resolution upright coordinates.

    (Ages are not compared here: detection on a differently resampled copy moves the
    landmarks by a pixel or two, and the current model's ages follow; see docs/performance.md.)
    """
    data = path.read_bytes()
    full = decode_image(data)
    reduced = decode_image(data, min_side=REDUCED_MIN_SIDE)
    assert reduced.reduced and reduced.pixels.shape[0] < full.height
    assert (reduced.width, reduced.height) == (full.width, full.height)
    reference = FacePipeline(detector, fast)(full.pixels)
    quick = FacePipeline(detector, fast)(reduced)
    assert len(quick.faces) == len(reference.faces) >= 1
    ref_boxes = np.array([f.box for f in reference.faces])
    boxes = np.array([f.box for f in quick.faces])
    order = _match(ref_boxes, boxes)
    assert sorted(order) == list(range(len(order)))  # one-to-one
    sides = (ref_boxes[:, 2:] - ref_boxes[:, :2]).min(axis=1)
    assert (np.abs(boxes[order] - ref_boxes).max(axis=1) <= 0.1 * sides).all()


def _jpeg(width: int, height: int, orientation: int | None = None) -> bytes:
    rng = np.random.default_rng(1)
    blocks = rng.integers(0, 255, (height // 16, width // 16, 3), np.uint8)
    pixels = np.repeat(np.repeat(blocks, 16, 0), 16, 1)
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    image.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def test_reduced_decode_reports_full_upright_size_and_can_give_every_pixel() -> None:
    data = _jpeg(1600, 960, orientation=6)  # turned 90 degrees: upright it is 960 wide, 1600 high
    full = decode_image(data)
    assert (full.width, full.height) == (960, 1600) and not full.reduced
    reduced = decode_image(data, min_side=400)
    assert reduced.reduced
    assert reduced.pixels.shape == (400, 240, 3)  # 1/4 scale in the DCT, then turned upright
    assert (reduced.width, reduced.height) == (960, 1600)
    assert reduced.scale_xy == (0.25, 0.25)
    assert np.array_equal(reduced.full_resolution(), full.pixels)
    # Not worth reducing (or not a JPEG): the full image, nothing kept.
    small = decode_image(data, min_side=1000)
    assert not small.reduced and small.source is None and small.pixels.shape == (1600, 960, 3)
    png = io.BytesIO()
    Image.fromarray(full.pixels).save(png, "PNG")
    assert not decode_image(png.getvalue(), min_side=100).reduced
