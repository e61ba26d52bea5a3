"""The routes with the shipped checkpoint and real photos: /predict, /predict/batch, /health, /ready,
/model and the web page at /."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from bench.ground_truth import marked_faces
from inference_service.settings import Settings
from inference_service.vision.boxes import iou
from inference_service.vision.pipeline import FacePipeline

from ..conftest import (
    FRONTEND_MARKER,
    LOAD_TIMEOUT_S,
    SESSION_MAX_FACES,
    app_client,
    assert_valid_ages,
    encode,
    load_settings,
)
from ..server import CHECKPOINT, DLIB, UTKFACE


def predict(client: httpx.Client, data: bytes, name: str = "photo.jpg") -> httpx.Response:
    return client.post("/predict", files={"file": (name, data, "application/octet-stream")})


def test_detection_recall_on_dlib_ground_truth(
    client: httpx.Client, model_card: dict, record_property
) -> None:
    """43 hand-marked faces in 9 photos: recall >= 0.95 at IoU 0.4 and no false faces."""
    truth = marked_faces()
    matched = total = false_faces = 0
    for name, boxes in truth.items():
        response = predict(client, (DLIB / name).read_bytes(), name)
        assert response.status_code == 200, response.text
        body = response.json()
        faces = body["faces"]
        assert body["truncated"] is False
        assert_valid_ages(faces, model_card)
        predicted = [face["box"] for face in faces]
        total += len(boxes)
        matched += sum(any(iou(box, p) >= 0.4 for p in predicted) for box in boxes)
        false_faces += sum(not any(iou(box, p) >= 0.4 for box in boxes) for p in predicted)
        for face in faces:
            assert len(face["landmarks"]) == 5 and 0 < face["score"] <= 1
            x1, y1, x2, y2 = face["box"]
            assert 0 <= x1 < x2 <= body["image"]["width"] and 0 <= y1 < y2 <= body["image"]["height"]
    record_property("dlib_recall", f"{matched}/{total}")
    assert total == 43
    assert matched / total >= 0.95, f"recall {matched}/{total}"
    assert false_faces == 0


def test_response_shape(client: httpx.Client, model_card: dict) -> None:
    response = predict(client, (DLIB / "2008_002506.jpg").read_bytes())
    body = response.json()
    assert set(body) == {"faces", "truncated", "image", "model", "device", "timings_ms"}
    assert body["image"] == {"width": 500, "height": 375}
    assert body["model"] == {"name": model_card["name"], "version": model_card["version"]}
    assert body["device"] == "cpu"
    assert {"decode", "queue", "detect", "align", "age", "total"} <= set(body["timings_ms"])
    face = body["faces"][0]
    assert all(math.isfinite(v) for v in [*face["box"], face["age"], face["score"]])
    # The placeholder and the trained checkpoints use a bins head, which gives an interval.
    assert ("age_interval" in face) == (model_card["model"]["head"] == "bins")


def test_blank_image_has_no_faces(client: httpx.Client) -> None:
    blank = encode(Image.new("RGB", (640, 480), (255, 255, 255)), "PNG")
    response = predict(client, blank, "blank.png")
    assert response.status_code == 200
    assert response.json()["faces"] == []


def test_generated_scene_without_people_has_no_faces(client: httpx.Client) -> None:
    """A drawn landscape (sky, sun, hills, houses, noise): nothing face-like."""
    rng = random.Random(7)
    image = Image.new("RGB", (800, 600))
    draw = ImageDraw.Draw(image)
    for y in range(600):
        draw.line([(0, y), (800, y)], fill=(90 + y // 8, 150 + y // 10, 235 - y // 6))
    draw.ellipse([620, 60, 720, 160], fill=(255, 220, 80))
    draw.polygon([(0, 450), (250, 300), (520, 460), (800, 330), (800, 600), (0, 600)], fill=(60, 140, 60))
    for x in range(40, 760, 180):
        draw.rectangle([x, 420, x + 90, 500], fill=(rng.randrange(120, 230), 80, 60))
        draw.polygon([(x - 10, 420), (x + 45, 370), (x + 100, 420)], fill=(120, 40, 30))
        draw.rectangle([x + 35, 460, x + 55, 500], fill=(70, 50, 30))
    noise = np.asarray(image, dtype=np.int16) + np.random.default_rng(7).integers(-12, 12, (600, 800, 3))
    scene = Image.fromarray(noise.clip(0, 255).astype(np.uint8)).filter(ImageFilter.SMOOTH)
    response = predict(client, encode(scene, "JPEG", quality=90), "scene.jpg")
    assert response.status_code == 200
    assert response.json()["faces"] == []


def test_dogs_known_false_positive(client: httpx.Client, model_card: dict, record_property: object) -> None:
    """dogs.jpg has no person. RetinaFace (MobileNet-0.25) scores dog faces as human ones.

    Recorded, not hidden: at the shipped threshold (0.9) the service reports 2 faces
    (scores ~0.99 and ~0.93); no score threshold or minimum face size removes them
    without losing dlib ground-truth faces (the weakest true face scores 0.93). The
    README lists this as a known false positive. The test fails if it gets worse.
    """
    response = predict(client, (DLIB / "dogs.jpg").read_bytes(), "dogs.jpg")
    assert response.status_code == 200
    faces = response.json()["faces"]
    record_property("dogs_faces", [(face["score"], face["box"]) for face in faces])
    assert len(faces) <= 2
    assert_valid_ages(faces, model_card)


def test_exif_rotated_photo_gives_upright_boxes(client: httpx.Client) -> None:
    """Pixels stored sideways with EXIF Orientation 6: boxes must land on the upright faces."""
    name = "2009_004587.jpg"
    upright = Image.open(DLIB / name)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a phone writes
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    response = predict(client, encode(stored, "JPEG", quality=95, exif=exif), "rotated.jpg")
    body = response.json()
    assert body["image"] == {"width": upright.width, "height": upright.height}
    truth = marked_faces()[name]
    assert len(body["faces"]) == len(truth)
    for box in truth:
        assert max(iou(box, face["box"]) for face in body["faces"]) >= 0.4


def _face_photo() -> Image.Image:
    return Image.open(DLIB / "2008_002506.jpg").convert("RGB")


def _rgba() -> bytes:
    image = _face_photo().convert("RGBA")
    alpha = Image.new("L", image.size, 255)
    ImageDraw.Draw(alpha).rectangle([0, 0, 120, 60], fill=0)
    image.putalpha(alpha)
    return encode(image, "PNG")


def _png16() -> bytes:
    grey = np.asarray(_face_photo().convert("L"), dtype=np.uint16) * 257
    return encode(Image.fromarray(grey), "PNG")


def _animated_gif() -> bytes:
    first = _face_photo().convert("P")
    second = Image.new("P", first.size, 0)
    return encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)


FORMATS = {
    "png-alpha": _rgba,
    "png-16bit": _png16,
    "grayscale-jpeg": lambda: encode(_face_photo().convert("L"), "JPEG", quality=92),
    "cmyk-jpeg": lambda: encode(_face_photo().convert("CMYK"), "JPEG", quality=92),
    "animated-gif": _animated_gif,
    "webp": lambda: encode(_face_photo(), "WEBP", quality=90),
    "bmp": lambda: encode(_face_photo(), "BMP"),
    "tiff": lambda: encode(_face_photo(), "TIFF"),
}


@pytest.mark.parametrize("kind", FORMATS)
def test_image_formats_and_modes(client: httpx.Client, kind: str) -> None:
    """Every accepted format and colour mode decodes to the same upright RGB photo."""
    response = predict(client, FORMATS[kind](), f"photo.{kind}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["image"] == {"width": 500, "height": 375}
    assert len(body["faces"]) >= 2, kind  # the photo holds 3 faces; grey/palette copies keep most


def test_one_pixel_image(client: httpx.Client) -> None:
    response = predict(client, encode(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), "dot.png")
    assert response.status_code == 200
    assert response.json()["faces"] == [] and response.json()["image"] == {"width": 1, "height": 1}


def _collage(columns: int = 16, rows: int = 14, side: int = 100) -> bytes:
    """A grid of real UTKFace chips: 224 faces in one photo."""
    chips = sorted(UTKFACE.glob("*.jpg"))[: columns * rows]
    assert len(chips) == columns * rows
    sheet = Image.new("RGB", (columns * side, rows * side), (128, 128, 128))
    for index, path in enumerate(chips):
        chip = Image.open(path).convert("RGB").resize((side, side))
        sheet.paste(chip, ((index % columns) * side, (index // columns) * side))
    return encode(sheet, "JPEG", quality=90)


def test_crowd_over_the_face_cap_is_truncated(client: httpx.Client, model_card: dict) -> None:
    response = predict(client, _collage(), "crowd.jpg")
    assert response.status_code == 200
    body = response.json()
    assert body["truncated"] is True
    assert len(body["faces"]) == SESSION_MAX_FACES
    assert_valid_ages(body["faces"], model_card)
    # The largest faces are kept: every kept box is at least as big as the smallest chip face.
    areas = [(f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]) for f in body["faces"]]
    assert min(areas) > 0.2 * max(areas)


def test_batch_mixes_good_and_bad_files(client: httpx.Client) -> None:
    photo = (DLIB / "2008_002506.jpg").read_bytes()
    files = [
        ("files", ("group.jpg", photo, "image/jpeg")),
        ("files", ("notes.jpg", b"not an image at all", "image/jpeg")),
        ("files", ("cut.jpg", photo[:4000], "image/jpeg")),
        ("files", ("blank.png", encode(Image.new("RGB", (64, 64)), "PNG"), "image/png")),
        ("files", ("pair.jpg", (DLIB / "2008_001009.jpg").read_bytes(), "image/jpeg")),
    ]
    response = client.post("/predict/batch", files=files)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["filename"] for r in results] == [name for _, (name, _, _) in files]
    assert [r["status"] for r in results] == [200, 415, 400, 200, 200]
    assert len(results[0]["result"]["faces"]) == 3
    assert results[1]["detail"] and "result" not in results[1]
    assert results[3]["result"]["faces"] == []
    assert len(results[4]["result"]["faces"]) == 2


def test_batch_too_many_files(client: httpx.Client) -> None:
    files = [("files", (f"{i}.png", b"x", "image/png")) for i in range(9)]  # the cap is 8
    response = client.post("/predict/batch", files=files)
    assert response.status_code == 422
    assert "at most 8" in response.json()["detail"]


def test_batch_without_files(client: httpx.Client) -> None:
    response = client.post("/predict/batch", files={"file": ("a.jpg", b"x")})
    assert response.status_code == 422
    assert "'files'" in response.json()["detail"]


def test_health_and_ready(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["device"] == "cpu"


def test_model_card_comes_from_the_checkpoint(client: httpx.Client) -> None:
    from inference_service.vision.checkpoint import read_metadata
    from inference_service.vision.engines import ENGINES

    card = client.get("/model").json()
    metadata = read_metadata(CHECKPOINT).to_dict()
    for key in ("name", "version", "metrics", "data", "created"):
        assert card[key] == metadata[key]
    assert card["detector"]["score_threshold"] == 0.9
    assert card["engine"] in ENGINES  # what runs, never "auto"
    # The model config is the checkpoint's; an int8 graph (made locally, never in a clean clone) brings
    # the temperature fitted to its own logits.
    served, stored = dict(card["model"]), dict(metadata["model"])
    if card["engine"] == "openvino-int8":
        assert served.pop("temperature") != stored.pop("temperature")
    assert served == stored


def test_web_page_served_at_root(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200 and FRONTEND_MARKER in response.text


def test_ready_is_503_while_the_models_load_then_200(
    service_config: Path, pipelines: Callable[[Settings], FacePipeline]
) -> None:
    """/health answers at once; /ready and every route that needs the models say 503 until they are warm."""
    release = threading.Event()

    def slow(settings: Settings) -> FacePipeline:
        assert release.wait(LOAD_TIMEOUT_S)
        return pipelines(settings)

    photo = (DLIB / "2008_001009.jpg").read_bytes()
    with app_client(load_settings(service_config), slow, wait=False) as client:
        try:
            assert client.get("/health").json() == {"status": "ok"}
            loading = client.get("/ready")
            assert loading.status_code == 503 and loading.headers["retry-after"] == "1"
            assert loading.json() == {"detail": "The models are not ready yet (state: loading)."}
            for response in (
                client.get("/model"),
                client.post("/predict", files={"file": ("pair.jpg", photo, "image/jpeg")}),
                client.post("/predict/batch", files=[("files", ("pair.jpg", photo, "image/jpeg"))]),
            ):
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "1"
                assert response.json() == loading.json()
        finally:
            release.set()
        client.app.state.runtime.wait_loaded(LOAD_TIMEOUT_S)
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        response = client.post("/predict", files={"file": ("pair.jpg", photo, "image/jpeg")})
        assert response.status_code == 200 and len(response.json()["faces"]) == 2
