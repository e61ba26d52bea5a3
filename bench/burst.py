"""A burst of polite clients: each uploads one photo, honours Retry-After on a 503, and gives up a fixed
time after it started.

    python bench/burst.py [--clients 128] [--concurrency 32] [--give-up-s 30] [--photo PATH] [--config FILE]

Starts a fresh service (`python -m inference_service`, the config's limits), times the photo one request
at a time (the cores' rate), then runs the burst: `--clients` clients, `--concurrency` at a time, each on
its own keep-alive connection. Prints one JSON object: goodput (answers per second over the burst) against
the one-at-a-time rate, the 503s (count, latency p99, whether each carried Retry-After), the admitted
requests' latency p50/p99, clients that gave up after 503s, clients admitted and then timed out, any other
status, and whether /health answers after; and, from /metrics, where the time went: the inference thread's
busy share of the run, its seconds per image under the burst (against the one-at-a-time time) and the images
dropped because their client had gone. `make burst` runs it with the defaults; the test suite runs a
small version (tests/inference_service/test_overload.py). Figures: docs/reliability.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
GROUP = REPO.parent / "shared" / "data" / "photos" / "dlib_examples" / "bald_guys.jpg"


@dataclass
class BurstResults:
    """What the clients saw; appended to from many threads (list.append and Counter under the lock)."""

    answered_s: list[float] = field(default_factory=list)  # latency of each admitted, answered request
    refused_s: list[float] = field(default_factory=list)  # latency of each 503
    retry_after: list[str | None] = field(default_factory=list)
    queue_wait: list[str | None] = field(default_factory=list)
    gave_up: int = 0  # clients whose next return would fall after their give-up time
    timed_out: int = 0  # clients admitted (or connecting) whose answer came too late
    other: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, value: object) -> None:
        with self.lock:
            getattr(self, name).append(value)

    def count(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 3)


def polite_client(client: httpx.Client, url: str, photo: bytes, give_up_s: float, out: BurstResults) -> None:
    """One client: upload; on a 503 sleep for Retry-After and upload again, until answered or out of time."""
    started = time.monotonic()
    while True:
        remaining = give_up_s - (time.monotonic() - started)
        sent = time.monotonic()
        try:
            response = client.post(url, files={"file": ("photo.jpg", photo, "image/jpeg")}, timeout=remaining)
        except httpx.TimeoutException:
            out.count("timed_out")
            return
        latency = time.monotonic() - sent
        if response.status_code != 503:
            if response.status_code == 200:
                out.add("answered_s", latency)
            else:
                with out.lock:
                    out.other[response.status_code] += 1
            return
        out.add("refused_s", latency)
        out.add("retry_after", response.headers.get("retry-after"))
        out.add("queue_wait", response.headers.get("x-queue-wait"))
        wait = float(response.headers.get("retry-after") or 1)
        if time.monotonic() - started + wait >= give_up_s:
            out.count("gave_up")
            return
        time.sleep(wait)


def scrape(base: str) -> dict[str, float]:
    """The service's /metrics as {sample name with labels: value}."""
    samples = {}
    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


COMPUTE_STAGES = ("detect", "align", "age")  # what the inference thread does per image


def time_spent(before: dict[str, float], after: dict[str, float], run_s: float) -> dict:
    """Where the burst's time went, from /metrics before and after: the inference thread's busy share of the
    run, its seconds per image under the burst, and the images dropped because their client had gone."""

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    busy = sum(grew(f'age_stage_duration_seconds_sum{{stage="{stage}"}}') for stage in COMPUTE_STAGES)
    computed = grew('age_stage_duration_seconds_count{stage="detect"}')
    return {
        "computed_images": int(computed),
        "inference_busy_share": round(busy / run_s, 3),
        "compute_per_image_s": round(busy / computed, 3) if computed else None,
        "decode_per_image_s": round(
            grew('age_stage_duration_seconds_sum{stage="decode"}')
            / max(1.0, grew('age_stage_duration_seconds_count{stage="decode"}')),
            3,
        ),
        "abandoned": int(grew("age_requests_abandoned_total")),
    }


def one_at_a_time(url: str, photo: bytes, repeats: int = 5) -> float:
    """The median seconds of the photo sent alone (after one warm-up request)."""
    with httpx.Client(timeout=120) as client:
        times = []
        for _ in range(repeats + 1):
            sent = time.monotonic()
            client.post(url, files={"file": ("photo.jpg", photo, "image/jpeg")}).raise_for_status()
            times.append(time.monotonic() - sent)
    return statistics.median(times[1:])


def burst(url: str, photo: bytes, clients: int, concurrency: int, give_up_s: float) -> dict:
    """Run the burst against `url` (the /predict URL) and summarise it."""
    out, local = BurstResults(), threading.local()

    def run(_: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client()
        polite_client(local.client, url, photo, give_up_s, out)

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(run, range(clients)))
    seconds = time.monotonic() - started
    return {
        "clients": clients,
        "concurrency": concurrency,
        "give_up_s": give_up_s,
        "run_s": round(seconds, 1),
        "answered": len(out.answered_s),
        "goodput_per_s": round(len(out.answered_s) / seconds, 3),
        "refused": len(out.refused_s),
        "refused_p99_s": percentile(out.refused_s, 99),
        "refused_without_retry_after": sum(value is None for value in out.retry_after),
        "refused_without_queue_wait": sum(value is None for value in out.queue_wait),
        "retry_after_values": dict(Counter(out.retry_after)),
        "admitted_p50_s": percentile(out.answered_s, 50),
        "admitted_p99_s": percentile(out.answered_s, 99),
        "gave_up": out.gave_up,
        "timed_out": out.timed_out,
        "other_statuses": dict(out.other),
    }


def main() -> int:
    sys.path.insert(0, str(REPO))
    from processes import emit, running_service

    from inference_service.settings import Settings
    from inference_service.vision.devices import cpu_info

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=128)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--give-up-s", type=float, default=30.0)
    parser.add_argument("--photo", type=Path, default=GROUP)
    parser.add_argument("--config", default=str(REPO / "service.cfg"))
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    with running_service(args.config) as (_, base):
        photo = args.photo.read_bytes()
        alone_s = one_at_a_time(base + "/predict", photo)
        before = scrape(base)
        report = burst(base + "/predict", photo, args.clients, args.concurrency, args.give_up_s)
        report.update(time_spent(before, scrape(base), report["run_s"]))
        report.update(
            photo=args.photo.name,
            one_at_a_time_s=round(alone_s, 3),
            goodput_share=round(report["goodput_per_s"] * alone_s, 3),
            max_queue_wait_s=Settings.load(args.config).max_queue_wait_s,
            health_after=httpx.get(base + "/health", timeout=5).status_code == 200,
            cpu=cpu_info().describe(),
        )
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
