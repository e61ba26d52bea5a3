"""Shared fixtures: the service in this process (the app on a TestClient) for the routes' behaviour, one real
service process for what needs a server (sockets, signals, its log, its memory, its TMPDIR), and test data.

Both run the shipped checkpoint with the shipped detector settings, from one service.cfg; only what makes
the tests fast or observable differs from the shipped file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from inference_service.app import create_app
from inference_service.inference import pipeline_from_settings
from inference_service.settings import Settings
from inference_service.vision.devices import resolve_device
from inference_service.vision.pipeline import FacePipeline

from .server import CHECKPOINT, ServerProcess, write_config

SESSION_MAX_FACES = 20  # the age model runs on at most this many crops per image (speed)
SESSION_ORIGIN = "http://allowed.example"
SESSION_UPLOAD_TIMEOUT_S = 5  # short, so the stalled-upload test does not wait the default 30 s
FRONTEND_MARKER = "age-estimator-test-page"
LOAD_TIMEOUT_S = 240


@pytest.fixture(scope="session")
def service_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service")


@pytest.fixture(scope="session")
def service_config(service_tmp: Path) -> Path:
    """The session's service.cfg, for the in-process app and the server process alike."""
    frontend = service_tmp / "dist"
    frontend.mkdir()
    (frontend / "index.html").write_text(f"<!doctype html><title>{FRONTEND_MARKER}</title>")
    return write_config(
        service_tmp / "service.cfg",
        device="cpu",
        age_model={"path": str(CHECKPOINT), "flip": False},
        detector={"max_faces": SESSION_MAX_FACES},
        cors_origins=[SESSION_ORIGIN],
        upload_timeout_s=SESSION_UPLOAD_TIMEOUT_S,
        frontend_dir=str(frontend),
    )


def load_settings(
    config: Path | None = None, env: dict[str, str] | None = None, **overrides: object
) -> Settings:
    """Settings as `python -m inference_service` makes them: this process's AGE_* variables ignored (as
    ServerProcess drops them) and `env` set instead, the device resolved once."""
    with pytest.MonkeyPatch.context() as patch:
        for key in [key for key in os.environ if key.startswith("AGE_")]:
            patch.delenv(key)
        for key, value in (env or {}).items():
            patch.setenv(key, value)
        settings = Settings.load(config, **overrides)
    return settings.model_copy(update={"device": resolve_device(settings.device)})


@pytest.fixture(scope="session")
def pipelines() -> Callable[[Settings], FacePipeline]:
    """The pipeline factory of the in-process apps: the real one, each model configuration loaded once
    for the session (the tests send one request at a time, so apps may share it)."""
    loaded: dict[str, FacePipeline] = {}

    def factory(settings: Settings) -> FacePipeline:
        key = repr((settings.device, settings.detector, settings.age_model))
        if key not in loaded:
            loaded[key] = pipeline_from_settings(settings)
        return loaded[key]

    return factory


@contextmanager
def app_client(
    settings: Settings, factory: Callable[[Settings], FacePipeline], wait: bool = True
) -> Iterator[TestClient]:
    """create_app(settings) served in this process; with `wait`, once the models are loaded and warm."""
    fatal: list[str] = []
    app = create_app(settings, pipeline_factory=factory, on_fatal=fatal.append)
    with TestClient(app) as client:
        client.fatal = fatal  # type: ignore[attr-defined]
        if wait:
            app.state.runtime.wait_loaded(LOAD_TIMEOUT_S)
            assert app.state.runtime.ready, fatal
        yield client


@pytest.fixture(scope="session")
def client(service_config: Path, pipelines: Callable[[Settings], FacePipeline]) -> Iterator[TestClient]:
    """The session's service in this process (no socket, no second process): most route tests use it."""
    with app_client(load_settings(service_config), pipelines) as session:
        yield session


@pytest.fixture(scope="session")
def model_card(client: httpx.Client) -> dict:
    return client.get("/model").json()


@pytest.fixture(scope="session")
def server(service_config: Path, service_tmp: Path) -> Iterator[ServerProcess]:
    """The service as `python -m inference_service` runs it, on a free port, from the same service.cfg."""
    server_tmp = service_tmp / "server-tmpdir"  # the server's TMPDIR: must stay empty
    server_tmp.mkdir()
    proc = ServerProcess.service(
        service_config,
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
def server_client(server: ServerProcess) -> Iterator[httpx.Client]:
    """An HTTP client of the real server process."""
    with httpx.Client(base_url=server.url, timeout=120) as session:
        yield session


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
