"""Health, readiness, the model card, the docs, CORS, request ids and the web page."""

from __future__ import annotations

import json

import httpx
import schemathesis

from .conftest import FRONTEND_MARKER, SESSION_ORIGIN
from .server import ServerProcess

# What each operation can answer; every one must be documented in /openapi.json.
RETURNED = {
    ("/predict", "post"): {200, 400, 401, 413, 415, 422, 500, 503},
    ("/predict/batch", "post"): {200, 400, 401, 413, 422, 503},
    ("/health", "get"): {200},
    ("/ready", "get"): {200, 503},
    ("/model", "get"): {200, 401, 503},
    ("/metrics", "get"): {200, 404},
}


def test_health_and_ready(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["device"] == "cpu"


def test_model_card_comes_from_the_checkpoint(client: httpx.Client) -> None:
    from inference_service.vision.checkpoint import read_metadata
    from inference_service.vision.engines import ENGINES

    from .server import CHECKPOINT

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


def test_openapi_validates_and_documents_every_status(client: httpx.Client, server: ServerProcess) -> None:
    document = client.get("/openapi.json").json()
    schemathesis.openapi.from_dict(document).validate()  # raises on an invalid document
    for (path, method), codes in RETURNED.items():
        operation = document["paths"][path][method]
        assert {int(code) for code in operation["responses"]} >= codes, (path, method)
        for code in codes - {200}:
            assert operation["responses"][str(code)]["content"]["application/json"]["example"]["detail"]
    predict = document["paths"]["/predict"]["post"]
    assert "multipart/form-data" in predict["requestBody"]["content"]
    assert predict["responses"]["200"]["content"]["application/json"]["schema"]
    batch_files = document["paths"]["/predict/batch"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert batch_files["schema"]["properties"]["files"]["maxItems"] == 8
    schemas = json.dumps(document["components"]["schemas"])
    assert '"example"' in schemas  # response examples for /docs


def test_docs_page(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()


def test_request_id_is_returned_and_logged(client: httpx.Client, server: ServerProcess) -> None:
    response = client.get("/health", headers={"X-Request-ID": "trace-abc-123"})
    assert response.headers["x-request-id"] == "trace-abc-123"
    generated = client.get("/health").headers["x-request-id"]
    assert len(generated) == 32
    bogus = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces" * 10})
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


def test_web_page_served_at_root(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200 and FRONTEND_MARKER in response.text
