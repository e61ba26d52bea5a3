"""GET /metrics on the real server: counters move by exactly what was sent, and no label holds user data."""

from __future__ import annotations

import re

import httpx

from .server import PHOTOS

GROUP = PHOTOS / "pexels" / "pexels-andrea-piacquadio-2672979.jpg"
SECRET_NAME = "private-holiday-photo-of-anna.jpg"


def scrape(client: httpx.Client) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_predictions_move_the_counters_and_histograms_by_exactly_what_was_sent(client: httpx.Client) -> None:
    before = scrape(client)
    sent, faces_each = 3, None
    for _ in range(sent):
        response = client.post("/predict", files={"file": (SECRET_NAME, GROUP.read_bytes(), "image/jpeg")})
        assert response.status_code == 200
        faces_each = len(response.json()["faces"])
    after = scrape(client)

    def moved(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert moved('age_http_requests_total{method="POST",route="/predict",status="200"}') == sent
    assert moved('age_http_request_duration_seconds_count{method="POST",route="/predict"}') == sent
    assert moved("age_faces_per_image_count") == sent
    assert moved("age_faces_per_image_sum") == sent * faces_each
    for stage in ("decode", "queue", "detect", "align", "age"):
        assert moved(f'age_stage_duration_seconds_count{{stage="{stage}"}}') == sent
    assert after["age_images_in_flight"] == 0
    assert after["age_queue_expected_wait_seconds"] == 0  # nothing queued: the door is open
    assert after["age_queued_upload_bytes"] == 0  # every answered request let go of its memory
    assert after["process_resident_memory_bytes"] > 100e6


def test_the_model_is_described_and_labels_carry_no_user_data(client: httpx.Client) -> None:
    client.post("/predict", files={"file": (SECRET_NAME, GROUP.read_bytes(), "image/jpeg")})
    text = client.get("/metrics").text
    card = client.get("/model").json()
    (info,) = [line for line in text.splitlines() if line.startswith("age_model_info")]
    assert f'version="{card["version"]}"' in info and 'device="cpu"' in info
    assert SECRET_NAME not in text and "127.0.0.1" not in text
    assert not re.search(r"[0-9a-f]{32}", text), "a request id leaked into a label"
    routes = set(re.findall(r'route="([^"]*)"', text))
    assert routes <= {
        "/predict",
        "/predict/batch",
        "/predict/video",
        "/health",
        "/ready",
        "/model",
        "/metrics",
        "unmatched",
        "/ (page)",
    }


def test_metrics_need_no_api_key_and_can_be_switched_off() -> None:
    from fastapi.testclient import TestClient

    from inference_service.app import create_app
    from inference_service.settings import Settings

    def no_models(_: Settings):  # in-process and model-free: these answers do not need the networks
        raise RuntimeError("not loaded in this test")

    def app(**settings: object):
        return create_app(
            Settings.load(api_key="k", **settings), pipeline_factory=no_models, on_fatal=lambda reason: None
        )

    with TestClient(app(metrics_enabled=False)) as off:
        response = off.get("/metrics")
        assert response.status_code == 404 and "metrics_enabled" in response.json()["detail"]
    with TestClient(app()) as on:
        assert on.get("/metrics").status_code == 200  # the scraper has no key
        assert on.get("/model").status_code == 401
