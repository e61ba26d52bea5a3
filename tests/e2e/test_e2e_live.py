"""Live mode in real Chromium: its fake camera films a slow pan over the group photo (a y4m the
fixtures make), the real service answers every frame. Boxes and ages appear and follow the pan,
the count is the faces in view, one request is in flight at a time, leaving stops the camera.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
from playwright.sync_api import Page, Request, expect

from scripts.fake_camera import pan_frames

from .conftest import ARTIFACTS, PAN_PHOTO

# Every getUserMedia stream the page opens, so the test can see that leaving turned it off.
SPY_STREAMS = """
(() => {
  const devices = navigator.mediaDevices;
  const original = devices.getUserMedia.bind(devices);
  window.__streams = [];
  devices.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    window.__streams.push(stream);
    return stream;
  };
})();
"""
# What is drawn after an answer: tracks (id, left edge in px, label, stale) and the count line.
SNAPSHOT = """
() => {
  const view = document.querySelector('[data-testid=live-view]');
  const boxes = [...document.querySelectorAll('[data-testid=live-box]')].map((box) => ({
    id: Number(box.dataset.track),
    left: box.getBoundingClientRect().left,
    age: box.querySelector('[data-testid=live-age]')?.textContent ?? '',
    stale: box.dataset.stale === 'true',
  }));
  return { answers: Number(view?.dataset.answers ?? 0), boxes,
           count: document.querySelector('[data-testid=live-count]')?.textContent ?? '' };
}
"""
SAMPLES = 8  # at least this many answers ...
SAMPLE_S = 2.5  # ... over at least this long, so the pan has moved the faces


def faces_in_pan(service: str, photos: Path) -> set[int]:
    """How many faces the service finds in the pan's frames (the same frames the camera plays)."""
    counts = set()
    for frame in pan_frames(photos / PAN_PHOTO, (480, 360), 16, 0.12)[::4]:
        data = io.BytesIO()
        frame.save(data, "JPEG", quality=80)
        answer = httpx.post(
            f"{service}/predict", files={"file": ("f.jpg", data.getvalue(), "image/jpeg")}, timeout=60
        )
        counts.add(len(answer.json()["faces"]))
    return counts


def is_live_predict(request: Request) -> bool:
    return urlparse(request.url).path == "/predict" and request.method == "POST"


def test_live_boxes_follow_a_panning_camera_and_leaving_stops_it(
    live_phone_page: Page, service: str, photos: Path
) -> None:
    page = live_phone_page
    (in_view,) = faces_in_pan(service, photos)  # the pan keeps every face in the picture
    assert in_view >= 4

    in_flight, most, sent = 0, 0, []

    def started(request: Request) -> None:
        nonlocal in_flight, most
        if is_live_predict(request):
            in_flight += 1
            most = max(most, in_flight)
            sent.append(request)

    def ended(request: Request) -> None:
        nonlocal in_flight
        if is_live_predict(request):
            in_flight -= 1

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    page.add_init_script(SPY_STREAMS)
    page.goto(service)

    live = page.get_by_role("button", name="Live", exact=True)
    live.focus()
    page.keyboard.press("Enter")  # keyboard only
    view = page.get_by_test_id("live-view")
    expect(view).to_have_attribute("data-phase", "running")
    page.wait_for_function("Number(document.querySelector('[data-testid=live-view]')?.dataset.answers) >= 3")

    samples, started = [], time.monotonic()
    while len(samples) < SAMPLES or time.monotonic() - started < SAMPLE_S:
        last = page.evaluate(SNAPSHOT)["answers"]
        page.wait_for_function(
            f"Number(document.querySelector('[data-testid=live-view]')?.dataset.answers) > {last}"
        )
        samples.append(page.evaluate(SNAPSHOT))

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live-running.png"), full_page=True)

    # The requests: one at a time, small frames, the distribution asked for.
    assert most == 1, f"{most} /predict requests were in flight at once"
    assert all(parse_qs(urlparse(r.url).query).get("distribution") == ["true"] for r in sent)
    answer = sent[0].response()
    assert answer is not None and answer.status == 200
    body = answer.json()
    assert max(body["image"]["width"], body["image"]["height"]) <= 640

    # Boxes with ages, as many as faces in view; the count line says the same.
    for sample in samples:
        current = [box for box in sample["boxes"] if not box["stale"]]
        words = f"{len(current)} face in view" if len(current) == 1 else f"{len(current)} faces in view"
        assert sample["count"] == words
        assert all(box["age"].isdigit() and 0 < int(box["age"]) <= 100 for box in sample["boxes"])
    counts = [int(sample["count"].split()[0]) for sample in samples]
    assert sum(c == in_view for c in counts) >= len(counts) * 0.75, (
        f"faces in view {counts}, expected {in_view}"
    )

    # The boxes follow the pan: the same tracks, moved sideways.
    ids = [{box["id"] for box in sample["boxes"]} for sample in samples]
    steady = set.intersection(*ids)
    assert len(steady) >= in_view - 1, f"tracks across the samples: {ids}"
    moved = [
        max(lefts) - min(lefts)
        for track in steady
        if (lefts := [b["left"] for s in samples for b in s["boxes"] if b["id"] == track])
    ]
    assert max(moved) > 8, f"boxes did not follow the pan: moved {moved} px"
    assert len(set.union(*ids)) <= in_view + 3, "tracks restart instead of following the faces"

    # Phone-sized: nothing runs off sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    # Leaving the mode: tracks gone, camera off, no more frames sent.
    stop = page.get_by_role("button", name="Stop live")
    stop.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("live-view")).to_have_count(0)
    expect(page.get_by_test_id("live-box")).to_have_count(0)
    assert page.evaluate(
        "window.__streams.length > 0 && "
        "window.__streams.every((s) => s.getTracks().every((t) => t.readyState === 'ended'))"
    )
    count = len(sent)
    time.sleep(1.5)
    assert len(sent) == count, "frames were still sent after leaving live mode"
