"""Load test: 16 concurrent `hey` clients for 60 s against a fresh local service.

A mix of real photos and bad inputs (text named .jpg, a truncated JPEG, an image
bomb) is sent to 127.0.0.1 only, bounded in time. Reported: requests, status
counts, errors by status, p50/p99 latency (overall and per payload), and the
server's RSS at start, after the first 500 requests and at the end.

Pass: no 5xx except deliberate 503s, and RSS growth under 10 % from the
500th request to the end. Exit status 1 on failure. The report is also written
to test-artifacts/loadtest.json.

Usage: python bench/loadtest.py [--duration 60] [--clients 16] [--config service.cfg]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

from processes import free_port, memory_mb, stop_gracefully, wait_ready

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "photos"
BOUNDARY = "loadtestboundary7d1c"


def multipart(data: bytes, filename: str) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def png_bomb() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def payloads() -> list[tuple[str, bytes, int]]:
    """(name, multipart body, share of the clients)."""
    group = (PHOTOS / "dlib_examples" / "2008_002506.jpg").read_bytes()
    pair = (PHOTOS / "dlib_examples" / "2009_004587.jpg").read_bytes()
    portrait = (PHOTOS / "pexels" / "pexels-andrea-piacquadio-774909.jpg").read_bytes()
    return [
        ("photo-3-faces", multipart(group, "group.jpg"), 4),
        ("photo-2-faces", multipart(pair, "pair.jpg"), 3),
        ("photo-1920px", multipart(portrait, "portrait.jpg"), 3),
        ("text-as-jpg", multipart(b"not a picture\n" * 50, "notes.jpg"), 2),
        ("truncated-jpeg", multipart(group[: len(group) // 3], "cut.jpg"), 2),
        ("image-bomb", multipart(png_bomb(), "bomb.png"), 2),
    ]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients in total")
    parser.add_argument("--config", default=str(REPO / "service.cfg"))
    args = parser.parse_args()
    hey = shutil.which("hey")
    if hey is None:
        print("hey is not installed: apt-get install -y hey (make loadtest does it)", file=sys.stderr)
        return 2

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="loadtest-"))
    server_log = open(work / "server.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, "-m", "inference_service", "--config", args.config, "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    samples: list[tuple[float, int]] = []
    stop_sampling = threading.Event()
    try:
        if not wait_ready(url, 300, server):
            print((work / "server.log").read_text()[-3000:], file=sys.stderr)
            return 2

        rss_start = memory_mb(server.pid)
        started = time.monotonic()

        def sample() -> None:
            while not stop_sampling.wait(0.5):
                samples.append((time.monotonic() - started, memory_mb(server.pid)))

        threading.Thread(target=sample, daemon=True).start()

        mix = payloads()
        weight = sum(share for *_, share in mix)
        runs = []
        for name, body, share in mix:
            clients = max(1, round(args.clients * share / weight))
            body_path = work / f"{name}.body"
            body_path.write_bytes(body)
            command = [
                hey, "-z", f"{args.duration}s", "-c", str(clients), "-t", "60", "-m", "POST",
                "-T", f"multipart/form-data; boundary={BOUNDARY}", "-D", str(body_path), "-o", "csv",
                url + "/predict",
            ]  # fmt: skip
            runs.append((name, clients, subprocess.Popen(command, stdout=subprocess.PIPE, text=True)))

        records: list[tuple[str, float, int, float]] = []  # payload, seconds, status, offset
        for name, _, proc in runs:
            out, _ = proc.communicate(timeout=args.duration + 120)
            for row in csv.DictReader(io.StringIO(out)):
                records.append(
                    (name, float(row["response-time"]), int(row["status-code"]), float(row["offset"]))
                )
        stop_sampling.set()
        rss_end = memory_mb(server.pid)
    finally:
        stop_sampling.set()
        stop_gracefully(server, 60)
        server_log.close()

    records.sort(key=lambda r: r[3] + r[1])  # by completion time
    statuses: dict[str, int] = {}
    for _, _, status, _ in records:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    after_500 = records[499][3] + records[499][1] if len(records) >= 500 else None
    rss_500 = next((rss for t, rss in samples if after_500 is not None and t >= after_500), rss_start)
    growth = (rss_end - rss_500) / rss_500 * 100 if rss_500 else float("nan")
    per_payload = {}
    for name, clients, _ in runs:
        times = [r[1] for r in records if r[0] == name]
        codes = sorted({r[2] for r in records if r[0] == name})
        per_payload[name] = {
            "clients": clients,
            "requests": len(times),
            "statuses": codes,
            "p50_ms": round(percentile(times, 0.5) * 1000, 1),
            "p99_ms": round(percentile(times, 0.99) * 1000, 1),
        }
    all_times = [r[1] for r in records]
    server_errors = {s: n for s, n in statuses.items() if s.startswith("5") and s != "503"}
    report = {
        "duration_s": args.duration,
        "clients": sum(c for _, c, _ in runs),
        "requests": len(records),
        "statuses": statuses,
        "errors_by_status": {s: n for s, n in statuses.items() if not s.startswith("2")},
        "p50_ms": round(percentile(all_times, 0.5) * 1000, 1),
        "p99_ms": round(percentile(all_times, 0.99) * 1000, 1),
        "per_payload": per_payload,
        "rss_mb": {
            "start": rss_start,
            "after_500_requests": rss_500,
            "end": rss_end,
            "growth_after_500_pct": round(growth, 2),
        },
        "server_exit_code": server.returncode,
    }
    passed = not server_errors and growth < 10 and len(records) >= 500
    report["passed"] = passed
    out_dir = REPO / "test-artifacts"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "loadtest.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print("PASS" if passed else "FAIL: 5xx other than 503, RSS growth >= 10 %, or under 500 requests")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
