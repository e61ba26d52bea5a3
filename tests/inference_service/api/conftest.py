"""What the API tests share: the shape every error answer has."""

from __future__ import annotations

import httpx


def assert_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail"}
    assert body["detail"] and "\n" not in body["detail"]
    assert response.headers["x-request-id"]
    return body["detail"]


def post_file(client: httpx.Client, data: bytes, name: str = "upload.jpg") -> httpx.Response:
    return client.post("/predict", files={"file": (name, data, "image/jpeg")})
