"""Alignment geometry: landmarks land on the template, the border is padded (never stretched)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from inference_service.vision.align import PAD_VALUE, UTKFACE_TEMPLATE, align_face, similarity_transform
from inference_service.vision.decode import read_image_file
from inference_service.vision.detector import RetinaFaceDetector
from inference_service.vision.options import DetectorOptions
from training.template import symmetrise

from ..server import PHOTOS, UTKFACE

PORTRAIT = PHOTOS / "pexels" / "pexels-mentatdgt-937416.jpg"

TEMPLATE = np.asarray(UTKFACE_TEMPLATE)


def place_face(scale: float, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    """Where the template's five points land in a photo after a known similarity transform."""
    a = math.radians(angle_deg)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (TEMPLATE * 100) @ rotation.T * scale + np.asarray(shift)


def marker_image(points: np.ndarray, shape: tuple[int, int], radius: int) -> np.ndarray:
    image = np.zeros((*shape, 3), np.uint8)
    for x, y in points:
        cv2.circle(
            image, (round(x * 16), round(y * 16)), radius * 16, (255, 255, 255), -1, cv2.LINE_AA, shift=4
        )
    return image


def marker_centres(crop: np.ndarray, expected: np.ndarray, window: int) -> np.ndarray:
    """Brightness-weighted centre of the marker near each expected point."""
    grey = crop[..., 0].astype(np.float64)
    centres = []
    for x, y in expected:
        x0, y0 = max(0, round(x) - window), max(0, round(y) - window)
        patch = grey[y0 : round(y) + window + 1, x0 : round(x) + window + 1]
        ys, xs = np.mgrid[: patch.shape[0], : patch.shape[1]]
        total = patch.sum()
        assert total > 0, f"no marker near {(x, y)}"
        centres.append([x0 + (xs * patch).sum() / total, y0 + (ys * patch).sum() / total])
    return np.array(centres)


@pytest.mark.parametrize(
    ("scale", "angle", "shift"), [(1.0, 0, (50, 40)), (2.3, 25, (300, 120)), (0.7, -40, (90, 210))]
)
def test_similarity_transform_recovers_a_known_pose(scale: float, angle: float, shift: tuple) -> None:
    photo_points = place_face(scale, angle, shift)
    matrix = similarity_transform(photo_points, TEMPLATE * 160)
    mapped = photo_points @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(mapped - TEMPLATE * 160).max() < 1e-6
    assert math.sqrt(abs(np.linalg.det(matrix[:, :2]))) == pytest.approx(1.6 / scale)


def test_similarity_transform_is_least_squares_under_noise() -> None:
    rng = np.random.default_rng(0)
    photo_points = place_face(1.5, 10, (100, 100)) + rng.normal(0, 2.0, (5, 2))
    matrix = similarity_transform(photo_points, TEMPLATE * 128)
    residual = photo_points @ matrix[:, :2].T + matrix[:, 2] - TEMPLATE * 128
    assert np.sqrt((residual**2).sum(1)).mean() < 3.0
    # no reflection, whatever the noise
    assert np.linalg.det(matrix[:, :2]) > 0


@pytest.mark.parametrize(("size", "scale", "angle", "radius"), [(112, 2.0, 20, 4), (64, 12.0, -15, 30)])
def test_markers_at_the_landmarks_land_on_the_template(
    size: int, scale: float, angle: float, radius: int
) -> None:
    """Pixels, not only matrices: also through the shrink-first path for faces far larger than the crop."""
    points = place_face(scale, angle, (120 * scale / 2 + 200, 60 * scale / 2 + 150))
    height, width = int(points[:, 1].max() + 300), int(points[:, 0].max() + 300)
    crop = align_face(marker_image(points, (height, width), radius), points, UTKFACE_TEMPLATE, size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    found = marker_centres(crop, TEMPLATE * size, window=max(3, round(radius * size / (100 * scale)) + 3))
    assert np.abs(found - TEMPLATE * size).max() < 0.35, found - TEMPLATE * size


def test_face_at_the_border_is_padded_not_stretched() -> None:
    image = np.full((300, 300, 3), 128, np.uint8)
    points = place_face(1.5, 30, (-10, -20))  # the face hangs over the top-left corner
    size = 96
    crop = align_face(image, points, UTKFACE_TEMPLATE, size)
    matrix = similarity_transform(points, TEMPLATE * size)
    inverse = cv2.invertAffineTransform(matrix)
    ys, xs = np.mgrid[:size, :size]
    source = np.stack([xs, ys], -1).reshape(-1, 2) @ inverse[:, :2].T + inverse[:, 2]
    source = source.reshape(size, size, 2)
    outside = (source[..., 0] < -1.5) | (source[..., 1] < -1.5)
    inside = (source[..., 0] > 1.5) & (source[..., 1] > 1.5)
    assert outside.sum() > size * size * 0.1 and inside.sum() > size * size * 0.1
    assert (crop[outside] == PAD_VALUE).all()  # padded with the constant...
    assert (crop[inside] == 128).all()  # ...while the photo itself is only moved, never smeared outwards


def test_template_is_mirror_symmetric() -> None:
    assert np.allclose(symmetrise(TEMPLATE), TEMPLATE, atol=1e-4)
    mirrored = TEMPLATE[[1, 0, 2, 4, 3]] * [-1, 1] + [1, 0]
    assert np.allclose(mirrored, TEMPLATE, atol=1e-4)


@pytest.fixture(scope="module")
def detector() -> RetinaFaceDetector:
    return RetinaFaceDetector(DetectorOptions(score_threshold=0.5))


@pytest.mark.parametrize("source", ["portrait", "chip"])
def test_real_face_aligned_then_redetected_sits_on_the_template(
    detector: RetinaFaceDetector, source: str
) -> None:
    """A phone-style photo and a UTKFace chip both come out with their landmarks on the template."""
    path = PORTRAIT if source == "portrait" else UTKFACE / sorted(p.name for p in UTKFACE.iterdir())[5000]
    image = read_image_file(str(path))
    face = max(detector.detect(image), key=lambda d: d.area)
    size = 160
    crop = align_face(image, face.landmarks, UTKFACE_TEMPLATE, size)
    again = max(detector.detect(crop), key=lambda d: d.area)
    error = np.linalg.norm(again.landmarks - TEMPLATE * size, axis=1)
    assert error.mean() < 0.03 * size, error
