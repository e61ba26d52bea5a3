"""What a refused upload costs the service: its body drained on a kept-alive connection, or the connection
closed.

    python bench/refusal_cost.py [--requests 300] [--photo PATH] [--config FILE]

Starts a fresh service with `max_queue_wait_s` 0.05 s, then holds its door shut: one admitted upload that
sends its headers and half its body and then waits, counted as an average image (about 0.3 s of expected
work), so every other request is refused from its headers alone while the inference thread idles. Then
`--requests` uploads of the photo (by default the 140 KB group photo of the burst) are sent one after
another, twice: on one kept-alive connection, where uvicorn reads and discards each refused body (drain),
and each with `Connection: close`, where the connection is closed after the 503 and the body is never read
(close: what the service would choose by answering `Connection: close`; the client pays a new connection
each time, as it would then). For each, the service process's CPU milliseconds per refusal (from /proc) and
the client's latency p50/p99. Prints one JSON object. Figure: docs/reliability.md, "A refusal is cheap".
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

REPO = Path(__file__).resolve().parents[1]
GROUP = REPO.parent / "shared" / "data" / "photos" / "dlib_examples" / "bald_guys.jpg"


def hold_the_door(base: str, declared: int) -> socket.socket:
    """An upload to the service at `base` that declares `declared` bytes, sends half and stalls: admitted,
    never sized."""
    address = urlsplit(base)
    host = address.hostname or "127.0.0.1"
    sock = socket.create_connection((host, address.port or 80))
    boundary = "holdthedoor"
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Length: {declared}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    )
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    sock.sendall(head.encode() + part.encode() + b"\xff" * (declared // 2))
    return sock


def refusals(url: str, photo: bytes, count: int, close: bool, pid: int) -> dict:
    """Send `count` uploads that are all refused; the server's CPU per refusal and the latencies."""
    from processes import cpu_seconds

    headers = {"Connection": "close"} if close else {}
    latencies, statuses = [], set()
    with httpx.Client(timeout=30) as client:
        cpu_before = cpu_seconds(pid)
        for _ in range(count):
            sent = time.perf_counter()
            response = client.post(url, files={"file": ("photo.jpg", photo, "image/jpeg")}, headers=headers)
            latencies.append(time.perf_counter() - sent)
            statuses.add(response.status_code)
        cpu = cpu_seconds(pid) - cpu_before
    ordered = sorted(latencies)
    return {
        "statuses": sorted(statuses),
        "server_cpu_ms_per_refusal": round(1000 * cpu / count, 3),
        "latency_p50_ms": round(1000 * statistics.median(ordered), 2),
        "latency_p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 2),
    }


def main() -> int:
    sys.path.insert(0, str(REPO / "bench"))
    sys.path.insert(0, str(REPO))
    from processes import emit, running_service

    from inference_service.vision.devices import cpu_info

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--photo", type=Path, default=GROUP)
    parser.add_argument("--config", default=str(REPO / "service.cfg"))
    args = parser.parse_args()
    shut = {
        "AGE_MAX_QUEUE_WAIT_S": "0.05",
        "AGE_UPLOAD_TIMEOUT_S": "600",
    }  # one stalled upload shuts the door
    with running_service(args.config, **shut) as (proc, base):
        photo = args.photo.read_bytes()
        holder = hold_the_door(base, 4 * len(photo))
        time.sleep(0.5)
        report: dict = {"photo": args.photo.name, "photo_bytes": len(photo), "requests": args.requests}
        for mode, close in (("warm-up", False), ("drain", False), ("close", True), ("drain again", False)):
            count = 20 if mode == "warm-up" else args.requests
            report[mode] = refusals(base + "/predict", photo, count, close, proc.pid)
        report.pop("warm-up")
        holder.close()
        report["cpu"] = cpu_info().describe()
    emit(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
