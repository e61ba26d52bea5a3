"""Soak: a fresh service under a moderate, bounded load for a long time, to find what only time shows.

    python bench/soak.py [--minutes 20] [--clients 2] [--pause-s 0.5] [--warmup-minutes 2] [--config FILE]

Starts `python -m inference_service` on a free loopback port (the shipped service.cfg unless --config
names another) and keeps `--clients` clients sending real photos of ../shared/data/photos (portraits,
groups, a crowd), each pausing `--pause-s` between requests: a few requests a second, well under what
two cores serve, so the queue stays short and what grows is a leak, not a backlog. Every second the
server's resident memory (VmRSS), its peak (VmHWM) and its open file descriptors are sampled.

Pass, all of:
  no answer other than 200 (no 5xx, no 503 at this load, no client error);
  peak resident memory grows at most 5 % from the end of the warm-up to the end (VmHWM);
  no file descriptor leak: the idle count after the clients have gone is not above the one before;
  latency does not drift: p50 and p90 of the last window within 25 % of the first (windows of 5
  minutes, or a quarter of a shorter run); p99 is reported beside them.
Not part of `make test` (it takes 20 minutes). Writes test-artifacts/soak.json (and the raw samples and
latencies to soak-raw.json) and prints it, with the CPU kind. Exit status 1 on failure, 2 when the
service does not start.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchmark as bench  # the benchmark's server and request-body helpers, one copy of them
from processes import HOST, free_port, memory_mb

ROOT = bench.ROOT
PHOTOS = [
    "pexels/pexels-andrea-piacquadio-774909.jpg",
    "pexels/pexels-andrea-piacquadio-2672979.jpg",
    "pexels/pexels-linkedin-sales-navigator-2182970.jpg",
    "dlib_examples/2008_001009.jpg",
    "dlib_examples/2008_002470.jpg",
    "dlib_examples/bald_guys.jpg",
]
MAX_RSS_GROWTH_PCT, MAX_LATENCY_DRIFT = 5.0, 1.25


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return -1


class Sampler(threading.Thread):
    """(seconds since start, VmRSS MB, VmHWM MB, open fds) of the server, once a second."""

    def __init__(self, pid: int, started: float):
        super().__init__(daemon=True)
        self.pid, self.started = pid, started
        self.samples: list[tuple[float, float, float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            pid = self.pid
            sample = (time.monotonic() - self.started, memory_mb(pid), memory_mb(pid, "VmHWM"), open_fds(pid))
            self.samples.append(sample)


def client_loop(port: int, bodies: list[tuple[bytes, str]], until: float, pause_s: float, out: list) -> None:
    """One client: post the photos in turn until `until`; (finished at, seconds, status) per request,
    `finished at` on the monotonic clock."""
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=60) as client:
        index = 0
        while time.monotonic() < until:
            body, boundary = bodies[index % len(bodies)]
            index += 1
            sent = time.perf_counter()
            try:
                status = client.post(
                    "/predict",
                    content=body,
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                ).status_code
            except httpx.HTTPError as exc:
                status = f"client error {type(exc).__name__}"
            out.append((time.monotonic(), time.perf_counter() - sent, status))
            time.sleep(pause_s)


def window(records: list[tuple[float, float, object]], start: float, end: float) -> dict[str, float]:
    times = [seconds for at, seconds, status in records if start <= at < end and status == 200]
    if not times:
        return {"requests": 0}
    return {
        "requests": len(times),
        **{f"p{q}_ms": round(bench.percentile(times, q) * 1000, 1) for q in (50, 90, 99)},
    }


def summarise(args: argparse.Namespace, records: list, sampler: Sampler, fds: dict[str, int]) -> dict:
    duration = args.minutes * 60
    width = min(300.0, duration / 4)
    statuses: dict[str, int] = {}
    for _, _, status in records:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    warm = [s for s in sampler.samples if s[0] <= args.warmup_minutes * 60]
    hwm_warm = warm[-1][2] if warm else sampler.samples[0][2]
    hwm_end = sampler.samples[-1][2]
    since_start = [(at - sampler.started, seconds, status) for at, seconds, status in records]
    first = window(since_start, 0, width)
    last = window(since_start, duration - width, duration + 60)
    drift = {
        q: round(last[q] / first[q], 3) for q in ("p50_ms", "p90_ms", "p99_ms") if q in first and q in last
    }
    report = {
        "minutes": args.minutes,
        "clients": args.clients,
        "pause_s": args.pause_s,
        "requests": len(records),
        "statuses": statuses,
        "rss_mb": {
            "ready": sampler.samples[0][1],
            "peak_after_warmup": hwm_warm,
            "peak_at_end": hwm_end,
            "peak_growth_pct": round((hwm_end - hwm_warm) / hwm_warm * 100, 2),
        },
        "fds": {**fds, "max_under_load": max(s[3] for s in sampler.samples)},
        "latency": {"window_s": width, "first": first, "last": last, "last_over_first": drift},
        "machine": bench.machine("cpu"),
    }
    report["passed"] = (
        set(statuses) == {"200"}
        and report["rss_mb"]["peak_growth_pct"] <= MAX_RSS_GROWTH_PCT
        and fds["idle_after"] <= fds["idle_before"]
        and all(drift.get(q, 99) <= MAX_LATENCY_DRIFT for q in ("p50_ms", "p90_ms"))
    )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--pause-s", type=float, default=0.5, help="each client's pause between requests")
    parser.add_argument("--warmup-minutes", type=float, default=2, help="memory growth counts after this")
    parser.add_argument("--config", default=str(ROOT / "service.cfg"))
    args = parser.parse_args()
    bodies = [bench.multipart(bench.DEFAULT_PHOTOS / name) for name in PHOTOS]
    port = free_port()
    command = [sys.executable, "-m", "inference_service", "--config", args.config, "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    records: list[tuple[float, float, object]] = []
    try:
        with bench.running(command, port, env, timeout=300) as (pid, _):
            fds = {"idle_before": open_fds(pid)}
            started = time.monotonic()
            sampler = Sampler(pid, started)
            sampler.start()
            until = started + args.minutes * 60
            clients = [
                threading.Thread(target=client_loop, args=(port, bodies, until, args.pause_s, records))
                for _ in range(args.clients)
            ]
            for thread in clients:
                thread.start()
            for thread in clients:
                thread.join()
            sampler.stop.set()
            time.sleep(2)  # the closed connections' sockets go
            fds["idle_after"] = open_fds(pid)
    except RuntimeError as exc:
        print(f"the service did not start: {exc}", file=sys.stderr)
        return 2
    out = ROOT / "test-artifacts"
    out.mkdir(exist_ok=True)
    raw = {"started": sampler.started, "records": records, "samples": sampler.samples, "fds": fds}
    (out / "soak-raw.json").write_text(json.dumps(raw))  # kept first: 20 minutes are not lost to a bug below
    report = summarise(args, records, sampler, fds)
    (out / "soak.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print("PASS" if report["passed"] else "FAIL", flush=True)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
