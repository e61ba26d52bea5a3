"""The middleware: request ids (returned and logged), CORS for the configured origins only, the API key."""

from __future__ import annotations

import json

import httpx

from .conftest import SESSION_ORIGIN
from .server import ServerProcess


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
