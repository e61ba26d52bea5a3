"""A fault drill: a bounded loop of loopback clients uploading a photo through nginx while a fault
(a command: `podman kill` of one API replica, or SIGTERM to it) happens in the middle.

    python deploy/containers/fault_drill.py URL PHOTO [--requests 120] [--concurrency 4] [--fault-at 30] \
        -- COMMAND...

COMMAND runs once, as soon as `--fault-at` requests have been sent, while the clients keep going. A
request counts as answered on 200 and as failed on anything else (a status, a time-out, a dropped
connection). Prints one JSON object (sent, answered, failed, statuses, latency p50/p99, when the fault
happened) and exits 1 when any request failed. How many nginx retried on the other replica is in its
access log (two upstream addresses on one line); deploy/containers/container-test counts them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from container_probe import Probe

TIMEOUT_S = 60


class Drill:
    """Sends the uploads, runs the fault once, and keeps the tally."""

    def __init__(self, url: str, photo: Path, fault_at: int, fault: list[str]):
        self.probe = Probe(url, "drill")
        self.photo, self.fault_at, self.fault = photo, fault_at, fault
        self.lock = threading.Lock()
        self.sent = 0
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.started = time.monotonic()
        self.fault_s: float | None = None
        self.fault_rc: int | None = None

    def one(self, _: int) -> None:
        with self.lock:
            self.sent += 1
            now_fault = self.sent == self.fault_at
        if now_fault:
            threading.Thread(target=self.run_fault, daemon=True).start()
        began = time.monotonic()
        try:
            status = str(self.probe.predict(self.photo)[0])
        except OSError as exc:  # refused, reset, timed out: the client saw no answer
            status = type(exc).__name__
        with self.lock:
            self.statuses[status] += 1
            if status == "200":
                self.latencies.append(time.monotonic() - began)

    def run_fault(self) -> None:
        self.fault_s = round(time.monotonic() - self.started, 2)
        self.fault_rc = subprocess.run(self.fault, capture_output=True, check=False).returncode

    def report(self) -> dict:
        answered = self.statuses.get("200", 0)
        return {
            "sent": self.sent,
            "answered": answered,
            "failed": self.sent - answered,
            "statuses": dict(self.statuses),
            "p50_ms": percentile_ms(self.latencies, 0.5),
            "p99_ms": percentile_ms(self.latencies, 0.99),
            "fault": " ".join(self.fault),
            "fault_at_s": self.fault_s,
            "fault_rc": self.fault_rc,
            "seconds": round(time.monotonic() - self.started, 1),
        }


def percentile_ms(seconds: list[float], q: float) -> int | None:
    ordered = sorted(seconds)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000) if ordered else None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("photo", type=Path)
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--fault-at", type=int, default=30)
    parser.add_argument("fault", nargs="+", help="the command that makes the fault")
    args = parser.parse_args()
    drill = Drill(args.url, args.photo, args.fault_at, args.fault)
    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(drill.one, range(args.requests)))
    report = drill.report()
    print(json.dumps(report))
    return 1 if report["failed"] or report["fault_rc"] else 0


if __name__ == "__main__":
    sys.exit(main())
