"""The middleware: request ids (returned and logged), CORS for the configured origins only, the API key."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from inference_service.settings import Settings
from inference_service.vision.pipeline import FacePipeline

from .conftest import SESSION_ORIGIN, app_client, load_settings
from .server import DLIB, ServerProcess

API_KEY = "test-key-5b1d"


@pytest.fixture(scope="module")
def keyed(service_config: Path, pipelines: Callable[[Settings], FacePipeline]) -> Iterator[TestClient]:
    """The session's service with an API key, in this process."""
    with app_client(load_settings(service_config, api_key=API_KEY), pipelines) as client:
        yield client


def _post(client: httpx.Client, data: bytes, key: str | None = API_KEY) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    return client.post("/predict", files={"file": ("x.png", data, "image/png")}, headers=headers)


def test_request_id_is_returned_and_logged(server_client: httpx.Client, server: ServerProcess) -> None:
    response = server_client.get("/health", headers={"X-Request-ID": "trace-abc-123"})
    assert response.headers["x-request-id"] == "trace-abc-123"
    generated = server_client.get("/health").headers["x-request-id"]
    assert len(generated) == 32
    bogus = server_client.get("/health", headers={"X-Request-ID": "bad id\twith spaces" * 10})
    assert bogus.headers["x-request-id"] != "bad id\twith spaces" * 10
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "trace-abc-123" and line.get("path") == "/health" for line in lines)


def test_cors_allows_only_configured_origins(client: httpx.Client) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = client.options("/predict", headers={"Origin": SESSION_ORIGIN, **preflight})
    assert allowed.headers.get("access-control-allow-origin") == SESSION_ORIGIN
    denied = client.options("/predict", headers={"Origin": "http://evil.example", **preflight})
    assert "access-control-allow-origin" not in denied.headers
    simple = client.get("/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_api_key_required_but_health_open(keyed: TestClient) -> None:
    photo = (DLIB / "2008_001009.jpg").read_bytes()
    assert _post(keyed, photo, key=None).status_code == 401
    wrong = _post(keyed, photo, key="test-key-5b1e")
    assert wrong.status_code == 401 and wrong.json() == {"detail": "A valid X-API-Key header is required."}
    assert keyed.get("/model").status_code == 401
    assert keyed.get("/health").status_code == 200
    assert keyed.get("/ready").status_code == 200
    assert _post(keyed, photo).status_code == 200
