"""The fast path (reduced JPEG decode, ONNX Runtime) must give the ages of the plain fp32 torch path.

Real faces from ../shared/data/photos, the shipped checkpoint, the real detector.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference_service.vision.checkpoint import read_metadata
from inference_service.vision.decode import decode_image, read_image_file
from inference_service.vision.detector import RetinaFaceDetector
from inference_service.vision.devices import cpu_info
from inference_service.vision.engines import AUTO_ON_CPU, Network, int8_first
from inference_service.vision.estimator import AgeEstimator
from inference_service.vision.pipeline import FacePipeline

from ..server import CHECKPOINT, PHOTOS

REAL_PHOTOS = [
    PHOTOS / "pexels" / "pexels-andrea-piacquadio-774909.jpg",
    PHOTOS / "pexels" / "pexels-andrea-piacquadio-2672979.jpg",
    PHOTOS / "pexels" / "pexels-alexey-makhinko-929436.jpg",
    PHOTOS / "dlib_examples" / "bald_guys.jpg",
]
AGE_TOLERANCE = 0.5  # years, the bound between the fast and the plain path
REDUCED_MIN_SIDE = 768  # reduces every benchmark photo (1920-1986 px) by half


@pytest.fixture(scope="module")
def detector() -> RetinaFaceDetector:
    return RetinaFaceDetector()


@pytest.fixture(scope="module")
def plain() -> AgeEstimator:
    return AgeEstimator.from_checkpoint(CHECKPOINT, device="cpu", engine="torch")


@pytest.fixture(scope="module")
def fast() -> AgeEstimator:
    return AgeEstimator.from_checkpoint(CHECKPOINT, device="cpu", engine="onnx")


def test_fast_runtime_is_onnx_on_cpu(fast: AgeEstimator, plain: AgeEstimator) -> None:
    assert fast.engine == "onnx" and plain.engine == "torch"
    # auto picks the fastest engine measured on this CPU kind (int8 there, when its graph was made here)
    network = Network(read_metadata(CHECKPOINT), path=CHECKPOINT)
    expected = "openvino-int8" if int8_first("auto", network, "cpu") else AUTO_ON_CPU[cpu_info().kind]
    assert AgeEstimator.from_checkpoint(CHECKPOINT, device="cpu").engine == expected


def test_onnx_ages_match_torch_on_real_faces(
    detector: RetinaFaceDetector, plain: AgeEstimator, fast: AgeEstimator
) -> None:
    crops = []
    for path in REAL_PHOTOS:
        image = read_image_file(str(path))
        crops += [plain.align(image, d.landmarks) for d in detector.detect(image)]
    crops = np.stack(crops)
    assert len(crops) >= 25
    reference, quick = plain.predict_crops(crops), fast.predict_crops(crops)
    assert np.abs(reference.age - quick.age).max() <= AGE_TOLERANCE
    if reference.interval is not None:
        assert quick.interval is not None
        assert np.abs(reference.interval - quick.interval).max() <= AGE_TOLERANCE


def _match(boxes: np.ndarray, others: np.ndarray) -> list[int]:
    return [int(np.argmin(np.abs(others - box).sum(axis=1))) for box in boxes]


@pytest.mark.parametrize("path", REAL_PHOTOS, ids=lambda p: p.stem)
def test_fast_pipeline_ages_match_plain_pipeline(
    path: Path, detector: RetinaFaceDetector, plain: AgeEstimator, fast: AgeEstimator
) -> None:
    """The service's default path (ONNX, flip in one batch) against fp32 eager torch, end to end."""
    image = read_image_file(str(path))
    reference = FacePipeline(detector, plain)(image)
    quick = FacePipeline(detector, fast)(image)
    assert len(quick.faces) == len(reference.faces) >= 1
    assert [f.box for f in quick.faces] == [f.box for f in reference.faces]
    ages = np.array([f.age for f in quick.faces])
    assert np.abs(ages - [f.age for f in reference.faces]).max() <= AGE_TOLERANCE


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


def test_small_faces_are_cropped_from_full_resolution(fast: AgeEstimator) -> None:
    # A face whose crop would be upsampled from the reduced copy: eyes 10 px apart.
    small_face = np.array([[100, 100], [110, 100], [105, 106], [101, 112], [109, 112]], np.float32)
    assert fast.needs_more_pixels(small_face)
    assert not fast.needs_more_pixels(small_face * 20)


def test_one_inference_path_for_aligned_and_prepared_layouts(plain: AgeEstimator) -> None:
    """evaluate --source (aligned NumPy crops) and evaluate --prepared (a prepared set's tensor) both call
    predict_crops; the same pixels in either layout give the same ages and intervals."""
    import torch

    size = plain.model_config.input_size
    crops = np.random.default_rng(0).integers(0, 256, (6, size, size, 3), dtype=np.uint8)
    aligned = plain.predict_crops(crops)
    prepared = plain.predict_crops(torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous())
    assert np.array_equal(aligned.age, prepared.age) and np.array_equal(aligned.interval, prepared.interval)


BF16_TOLERANCE = 0.3  # years: a bf16 engine against fp32 torch on CPUs with native bf16


@pytest.fixture(scope="module")
def real_crops(detector: RetinaFaceDetector, plain: AgeEstimator) -> np.ndarray:
    crops = []
    for path in REAL_PHOTOS:
        image = read_image_file(str(path))
        crops += [plain.align(image, d.landmarks) for d in detector.detect(image)]
    assert len(crops) >= 25
    return np.stack(crops)


@pytest.mark.parametrize("engine", ["openvino-bf16", "torch-bf16"])
def test_bf16_engines_against_fp32_on_real_faces(
    engine: str, real_crops: np.ndarray, plain: AgeEstimator
) -> None:
    """What holds depends on the CPU, so each kind checks its own property.

    With native bf16 (avx512_bf16 or AMX) both bf16 engines stay within 0.3 year of fp32.
    Without it, OpenVINO ignores the bf16 hint and computes in fp32, so it must match fp32 torch
    as closely as ONNX Runtime does (0.05 year); torch-bf16 is emulated there, slower than fp32 and
    never picked by `auto`, so it need only stay within the fast path's 0.5-year bound.
    """
    quick = AgeEstimator.from_checkpoint(CHECKPOINT, device="cpu", engine=engine).predict_crops(real_crops)
    difference = np.abs(plain.predict_crops(real_crops).age - quick.age).max()
    if cpu_info().native_bf16:
        assert difference <= BF16_TOLERANCE
    elif engine == "openvino-bf16":
        assert difference <= 0.05
    else:
        assert AgeEstimator.from_checkpoint(CHECKPOINT, device="cpu").engine != "torch-bf16"
        assert difference <= AGE_TOLERANCE
