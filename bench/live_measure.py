"""Live mode's speed and steadiness in real Chromium, the figures docs/live-mode.md asks for.

    PYTHONPATH=. .venv/bin/python bench/live_measure.py [--seconds 60] [--out live.json]

Starts the service (as `make run` does, serving frontend/dist), then for each scene (one face:
a portrait; the group photo) makes a y4m pan (scripts/fake_camera.py) and films it with Chromium's
fake camera in live mode. After a warm-up it reads, after every answer, what the page shows:
  * frames/s: answers over the measured wall time (the page's own meter is printed beside it);
  * frame-to-box latency: the page's `data-latency-ms`, grab of a frame to the animation frame
    after its boxes are drawn (p50 / p90);
  * steadiness: per track, how much the shown track age moves between answers (mean |step|) and
    its spread (SD over the run), against the same for the single-frame ages of the same frames.
It names the CPU (inference_service.vision.devices.cpu_info()). Measure on an otherwise idle
machine: a training job on the same cores halves every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

from benchmark import ROOT, running
from playwright.sync_api import Page, sync_playwright
from processes import HOST, emit, free_port

from inference_service.vision.devices import cpu_info
from scripts.fake_camera import CHROMIUM, CHROMIUM_FLAGS, FAKE_CAMERA_FLAGS, pan_y4m

PHOTOS = ROOT.parent / "shared" / "data" / "photos"
SCENES = {
    "one-face": PHOTOS / "pexels" / "pexels-andrea-piacquadio-774909.jpg",
    "group": PHOTOS / "pexels" / "pexels-andrea-piacquadio-2672979.jpg",
}
READ = """
() => {
  const view = document.querySelector('[data-testid=live-view]');
  return {
    answers: Number(view?.dataset.answers ?? 0),
    fps: Number(view?.dataset.fps || 'NaN'),
    latency: Number(view?.dataset.latencyMs || 'NaN'),
    tracks: [...document.querySelectorAll('[data-testid=live-box]:not([data-stale])')].map((box) => ({
      id: Number(box.dataset.track), age: Number(box.dataset.age), frame: Number(box.dataset.frameAge) })),
  };
}
"""
ANSWERED = "n => Number(document.querySelector('[data-testid=live-view]')?.dataset.answers) > n"


def mean_step(values: list[float]) -> float:
    return statistics.fmean(abs(b - a) for a, b in pairwise(values))


def percentile(values: list[float], q: float) -> int | None:
    ordered = sorted(v for v in values if v == v)  # NaN: no latency yet
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))]) if ordered else None


def steadiness(samples: list[dict]) -> dict:
    """Mean |step| and SD of the track ages and of the single-frame ages, per track, averaged."""
    series: dict[int, list[tuple[float, float]]] = {}
    for sample in samples:
        for track in sample["tracks"]:
            series.setdefault(track["id"], []).append((track["age"], track["frame"]))
    rows = []
    for points in series.values():
        if len(points) < 5:
            continue
        track, frame = [p[0] for p in points], [p[1] for p in points]
        rows.append((mean_step(track), mean_step(frame), statistics.stdev(track), statistics.stdev(frame)))
    if not rows:
        return {"tracks": 0}
    names = ("track_step_years", "single_frame_step_years", "track_sd_years", "single_frame_sd_years")
    means = {name: round(statistics.fmean(r[i] for r in rows), 2) for i, name in enumerate(names)}
    return {"tracks": len(rows), **means}


def measure(page: Page, base: str, warmup: int, seconds: float) -> dict:
    page.goto(base)
    page.get_by_role("button", name="Live", exact=True).click()
    page.wait_for_function(ANSWERED, arg=warmup, timeout=300_000)
    samples, started = [], time.monotonic()
    first = page.evaluate(READ)["answers"]
    while time.monotonic() - started < seconds:
        last = page.evaluate(READ)["answers"]
        page.wait_for_function(ANSWERED, arg=last, timeout=60_000)
        samples.append(page.evaluate(READ))
    elapsed = time.monotonic() - started
    answers = samples[-1]["answers"] - first
    latencies = [s["latency"] for s in samples]
    page.get_by_role("button", name="Stop live").click()
    return {
        "answers": answers,
        "seconds": round(elapsed, 1),
        "frames_per_s": round(answers / elapsed, 2),
        "page_meter_fps": samples[-1]["fps"],
        "latency_ms_p50": percentile(latencies, 0.5),
        "latency_ms_p90": percentile(latencies, 0.9),
        "faces_in_view_median": statistics.median(len(s["tracks"]) for s in samples),
        **steadiness(samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per scene")
    parser.add_argument("--warmup", type=int, default=5, help="answers before measuring")
    parser.add_argument("--scenes", default=",".join(SCENES))
    parser.add_argument("--out", type=Path, help="also write the report here (JSON)")
    args = parser.parse_args()
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        subprocess.run(["npm", "run", "build"], cwd=ROOT / "frontend", check=True)
    port = free_port()
    env = {**os.environ, "AGE_FRONTEND_DIR": str(ROOT / "frontend" / "dist"), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "inference_service", "--host", HOST, "--port", str(port)]
    report: dict = {"cpu": cpu_info().describe(), "cores": os.cpu_count(), "scenes": {}}
    with (
        running(command, port, env, 600) as (_, ready),
        tempfile.TemporaryDirectory() as tmp,
        sync_playwright() as pw,
    ):
        report["device"] = ready.get("device")
        for name in args.scenes.split(","):
            video = pan_y4m(SCENES[name], Path(tmp) / f"{name}.y4m", size=(640, 480), frames=48, fps=8)
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[*CHROMIUM_FLAGS, *FAKE_CAMERA_FLAGS, f"--use-file-for-fake-video-capture={video}"],
            )
            try:
                page = browser.new_context(
                    viewport={"width": 1280, "height": 900}, permissions=["camera"]
                ).new_page()
                report["scenes"][name] = measure(page, f"http://{HOST}:{port}", args.warmup, args.seconds)
            finally:
                browser.close()
            print(name, json.dumps(report["scenes"][name]), flush=True)
    emit(report, args.out)


if __name__ == "__main__":
    main()
