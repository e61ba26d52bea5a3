"""Checks a running deployment over HTTP: /health, /ready, a real /predict, and the web page.

Used by deploy/containers/container-test against the API container (run inside the image, so only the
standard library) and against the Compose stack through the proxy. Prints one PASS/FAIL line per
check and exits non-zero when any check fails.

    python3 deploy/containers/container_probe.py BASE_URL PHOTOS_DIR [--label NAME] [--requests N]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

# A photo with hand-marked ground-truth boxes (dlib's testing.xml) and one with no human face.
FACES_PHOTO = "dlib_examples/2008_002506.jpg"
GROUND_TRUTH = "dlib_examples/testing.xml"
NO_FACE_PHOTO = "dlib_examples/dogs.jpg"
TIMEOUT_S = 120


class Probe:
    """Runs checks and remembers whether any failed."""

    def __init__(self, base: str, label: str):
        self.base = base.rstrip("/")
        self.label = label
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        status = "PASS" if ok else "FAIL"
        print(f"{status} [{self.label}] {name}" + (f": {detail}" if detail else ""), flush=True)
        self.failed += not ok
        return ok

    def request(self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None):
        """(status, headers, body) of one request; HTTP errors are returned, not raised."""
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def predict(self, photo: Path) -> tuple[int, dict]:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{photo.name}"\r\n'
                "Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + photo.read_bytes()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        status, _, raw = self.request("/predict", data=body, headers=headers)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, {"raw": raw[:200].decode(errors="replace")}


def ground_truth_boxes(photos: Path, name: str) -> list[tuple[float, float, float, float]]:
    root = ET.parse(photos / GROUND_TRUTH).getroot()
    for image in root.iter("image"):
        if image.get("file") == Path(name).name:
            boxes = []
            for box in image.iter("box"):
                top, left = float(box.get("top")), float(box.get("left"))
                boxes.append((left, top, left + float(box.get("width")), top + float(box.get("height"))))
            return boxes
    raise SystemExit(f"{name} has no ground truth in {GROUND_TRUTH}")


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def run(probe: Probe, photos: Path, requests: int) -> None:
    status, _, body = probe.request("/health")
    probe.check("GET /health is 200", status == 200, f"status {status}")

    status, _, body = probe.request("/ready")
    probe.check("GET /ready is 200", status == 200, f"status {status} {body[:120]!r}")

    truth = ground_truth_boxes(photos, FACES_PHOTO)
    status, result = probe.predict(photos / FACES_PHOTO)
    faces = result.get("faces", []) if status == 200 else []
    probe.check("POST /predict on a real photo is 200", status == 200, f"status {status} {str(result)[:160]}")
    found = sum(any(iou(t, f["box"]) >= 0.3 for f in faces) for t in truth)
    probe.check(
        "every hand-marked face found",
        found == len(truth),
        f"{found}/{len(truth)} ground-truth faces matched (IoU>=0.3), {len(faces)} returned",
    )
    ages = [f.get("age") for f in faces]
    probe.check(
        "every face has an age in 0..120",
        bool(ages) and all(isinstance(a, int | float) and 0 <= a <= 120 for a in ages),
        f"ages {[round(a, 1) for a in ages if isinstance(a, int | float)]}, device {result.get('device')}",
    )

    # Detector quality is tested elsewhere; here only reported.
    status, result = probe.predict(photos / NO_FACE_PHOTO)
    scores = [round(f.get("score", 0), 3) for f in result.get("faces", [])]
    print(f"INFO [{probe.label}] {NO_FACE_PHOTO} (no human face): status {status}, face scores {scores}")

    status, headers, body = probe.request("/")
    html = body.decode(errors="replace")
    probe.check(
        "GET / is the web page",
        status == 200 and "text/html" in headers.get("Content-Type", "") and 'id="root"' in html,
        f"status {status}, {len(body)} bytes",
    )
    scripts = re.findall(r'<script[^>]+src="([^"]+\.js)"', html)
    if probe.check("the page references its script", bool(scripts), ", ".join(scripts)):
        status, headers, body = probe.request(scripts[0] if scripts[0].startswith("/") else "/" + scripts[0])
        loaded = status == 200 and len(body) > 1000
        probe.check("the page's script loads", loaded, f"status {status}, {len(body)} bytes")

    # Extra cheap requests, e.g. to spread over several replicas behind the proxy.
    statuses = [probe.request("/health")[0] for _ in range(requests)]
    if requests:
        probe.check(f"{requests} more GET /health are 200", all(s == 200 for s in statuses), str(statuses))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("photos", type=Path)
    parser.add_argument("--label", default="probe")
    parser.add_argument("--requests", type=int, default=0, help="extra GET /health requests at the end")
    args = parser.parse_args()
    probe = Probe(args.base_url, args.label)
    run(probe, args.photos, args.requests)
    return 1 if probe.failed else 0


if __name__ == "__main__":
    sys.exit(main())
