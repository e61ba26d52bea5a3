"""POST /predict/video on clips made from ../shared photos: tracks, their times and ages against
POST /predict on the same frames, and the errors of bad videos."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from PIL import Image

from inference_service.video.frames import sample_frames

from ..conftest import encode as encode_image
from ..server import PHOTOS
from ..video.clips import encode, enter_and_leave, pan

PORTRAIT = PHOTOS / "pexels" / "pexels-andrea-piacquadio-774909.jpg"
GROUP = PHOTOS / "pexels" / "pexels-andrea-piacquadio-2672979.jpg"


def _video(client: httpx.Client, data: bytes, name: str = "clip.mp4", **params: str) -> httpx.Response:
    return client.post("/predict/video", params=params, files={"file": (name, data, "video/mp4")})


def _frame_ages(client: httpx.Client, data: bytes) -> list[list[float]]:
    """The ages POST /predict gives for the faces of each frame the video endpoint samples."""
    ages = []
    for frame in sample_frames(data):
        png = encode_image(Image.fromarray(frame.pixels), "PNG")
        ages.append(
            [f["age"] for f in client.post("/predict", files={"file": ("f.png", png)}).json()["faces"]]
        )
    return ages


@pytest.fixture(scope="module")
def entering() -> tuple[bytes, tuple[float, float]]:
    frames, shown = enter_and_leave(Image.open(PORTRAIT))
    return encode(frames), shown


def test_a_face_entering_and_leaving_is_one_track_with_its_times_and_age(
    client: httpx.Client, entering: tuple[bytes, tuple[float, float]]
) -> None:
    data, (enters, leaves) = entering
    response = _video(client, data, thresholds="18")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["frames"] == 12 and body["video"] == {"width": 640, "height": 360, "sampled_to_s": 5.5}
    (track,) = body["tracks"]
    assert enters <= track["first_s"] < enters + 0.5 and leaves - 0.5 < track["last_s"] <= leaves
    assert track["frames"] == 4 and track["first_s"] <= track["best_s"] <= track["last_s"]
    seen = [ages for ages in _frame_ages(client, data) if ages]
    assert len(seen) == 4 and all(len(ages) == 1 for ages in seen)
    assert min(a for (a,) in seen) - 0.5 <= track["age"] <= max(a for (a,) in seen) + 0.5
    low, high = track["age_interval"]
    assert low < track["age"] < high
    (check,) = track["age_checks"]
    assert check["threshold"] == 18 and check["verdict"] in ("over", "under", "uncertain")


def test_a_pan_across_a_group_keeps_each_person_on_one_track(client: httpx.Client) -> None:
    data = encode(pan(Image.open(GROUP)))
    body = _video(client, data).json()
    per_frame = _frame_ages(client, data)
    most = max(len(ages) for ages in per_frame)
    assert body["frames"] == len(per_frame) == 8
    assert most <= len(body["tracks"]) <= most + 2  # people entering and leaving the frame, not one per frame
    assert sum(t["frames"] for t in body["tracks"]) == sum(len(ages) for ages in per_frame)
    all_ages = [a for ages in per_frame for a in ages]
    assert all(min(all_ages) - 0.5 <= t["age"] <= max(all_ages) + 0.5 for t in body["tracks"])


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        ((PHOTOS / "dlib_examples" / "dogs.jpg").read_bytes(), 415, "not a video"),
        (b"", 415, "empty"),
    ],
    ids=["an image named .mp4", "empty"],
)
def test_bad_videos_get_the_api_errors(client: httpx.Client, data: bytes, status: int, words: str) -> None:
    response = _video(client, data)
    assert response.status_code == status and words in response.json()["detail"]


def test_a_cut_short_video_is_a_400(
    client: httpx.Client, entering: tuple[bytes, tuple[float, float]]
) -> None:
    data, _ = entering
    response = _video(client, data[: len(data) // 2])
    assert response.status_code == 400 and "cut short" in response.json()["detail"]
    assert np.isfinite(client.get("/health").status_code)
