"""One real service for the whole session (started once), plus shared test data helpers."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from .server import CHECKPOINT, DLIB, ServerProcess, write_config

# The session server runs the shipped checkpoint with the shipped detector settings;
# only what makes the tests fast or observable differs from service.cfg.
SESSION_MAX_FACES = 20  # the age model runs on at most this many crops per image (speed)
SESSION_ORIGIN = "http://allowed.example"
SESSION_UPLOAD_TIMEOUT_S = 5  # short, so the stalled-upload test does not wait the default 30 s
FRONTEND_MARKER = "age-estimator-test-page"


@pytest.fixture(scope="session")
def service_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service")


@pytest.fixture(scope="session")
def server(service_tmp: Path) -> Iterator[ServerProcess]:
    """The service as `python -m inference_service` runs it, on a free port."""
    frontend = service_tmp / "dist"
    frontend.mkdir()
    (frontend / "index.html").write_text(f"<!doctype html><title>{FRONTEND_MARKER}</title>")
    server_tmp = service_tmp / "server-tmpdir"  # the server's TMPDIR: must stay empty
    server_tmp.mkdir()
    config = write_config(
        service_tmp / "service.cfg",
        device="cpu",
        age_model={"path": str(CHECKPOINT), "flip": False},
        detector={"max_faces": SESSION_MAX_FACES},
        cors_origins=[SESSION_ORIGIN],
        upload_timeout_s=SESSION_UPLOAD_TIMEOUT_S,
        frontend_dir=str(frontend),
    )
    proc = ServerProcess.service(
        config,
        service_tmp / "server.log",
        env={"TMPDIR": str(server_tmp), "AGE_AGE_MODEL__TORCH_THREADS": "2"},
    )
    proc.tmpdir = server_tmp  # type: ignore[attr-defined]
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as session:
        yield session


@pytest.fixture(scope="session")
def model_card(client: httpx.Client) -> dict:
    return client.get("/model").json()


def load_ground_truth() -> dict[str, list[tuple[float, float, float, float]]]:
    """dlib's hand-marked face boxes as x1, y1, x2, y2 per photo."""
    truth: dict[str, list[tuple[float, float, float, float]]] = {}
    for name in ("testing.xml", "training.xml"):
        for image in ET.parse(DLIB / name).getroot().iter("image"):
            truth[image.get("file")] = [
                (
                    float(box.get("left")),
                    float(box.get("top")),
                    float(box.get("left")) + float(box.get("width")),
                    float(box.get("top")) + float(box.get("height")),
                )
                for box in image.iter("box")
            ]
    return truth


def iou(a: list[float] | tuple, b: list[float] | tuple) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def assert_valid_ages(faces: list[dict], card: dict) -> None:
    low, high = card["model"]["age_min"], card["model"]["age_max"]
    for face in faces:
        assert low <= face["age"] <= high, face
        if "age_interval" in face:
            a, b = face["age_interval"]
            assert low <= a <= b <= high, face
