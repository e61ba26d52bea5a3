"""POST /predict/batch: one result per file, in order; bad files fail alone."""

from __future__ import annotations

import httpx

from .conftest import encode
from .server import DLIB


def test_batch_mixes_good_and_bad_files(client: httpx.Client) -> None:
    from PIL import Image

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
