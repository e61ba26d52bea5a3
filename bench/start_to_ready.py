"""Seconds from start to the first 200 on /ready, and the peak memory of start-up: a service process from
the checkout, or a container.

    # the checkout, as `make run` starts it: run 1 with an empty graph cache (it exports), then warm runs
    python bench/start_to_ready.py --runs 3 --cold-cache
    # a container (deploy/containers/container-test): COMMAND starts it detached, publishing 8000 on URL
    python bench/start_to_ready.py --url http://127.0.0.1:PORT --container NAME -- podman run -d ...

Host runs: the peak is the largest sum of VmRSS over the service and its children (the export child
of a cold cache included), sampled every 20 ms, and the service's own VmHWM. Container runs: VmHWM of
the container's PID 1 (the service) and the cgroup's memory.peak (page cache included) where the kernel
has it. One JSON line per run, with the CPU kind: timings depend on it and on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from processes import free_port, memory_mb, stop_gracefully

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from inference_service.vision.devices import cpu_info  # noqa: E402

POLL_S = 0.02


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/ready", timeout=1) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def tree_rss_mb(pid: int) -> float:
    """VmRSS of a process and all its descendants, MB."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        rss = memory_mb(current)
        total += 0.0 if rss != rss else rss  # NaN: it has just exited
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return round(total, 1)


def host_run(cache: Path, engine: str, timeout: float) -> dict:
    """`python -m inference_service` from the checkout with XDG_CACHE_HOME=cache, until /ready answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGE_")}
    env.update(XDG_CACHE_HOME=str(cache), PYTHONPATH=str(ROOT), AGE_AGE_MODEL__ENGINE=engine)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "inference_service", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = 0.0
    try:
        while not ready(f"http://127.0.0.1:{port}"):
            if process.poll() is not None or time.monotonic() - started > timeout:
                raise SystemExit(f"the service exited or was not ready in {timeout} s")
            peak = max(peak, tree_rss_mb(process.pid))
            time.sleep(POLL_S)
        seconds = time.monotonic() - started
        peak = max(peak, tree_rss_mb(process.pid))
        return {
            "ready_s": round(seconds, 2),
            "peak_tree_rss_mb": peak,
            "vmhwm_mb": memory_mb(process.pid, "VmHWM"),
        }
    finally:
        stop_gracefully(process)


def container_memory(name: str) -> dict:
    """VmHWM of the container's PID 1 and its cgroup's memory.peak, MB (None where unreadable)."""

    def read(path: str) -> str:
        done = subprocess.run(
            ["podman", "exec", name, "cat", path], capture_output=True, text=True, check=False
        )
        return done.stdout if done.returncode == 0 else ""

    hwm = [line.split()[1] for line in read("/proc/1/status").splitlines() if line.startswith("VmHWM:")]
    peak = read("/sys/fs/cgroup/memory.peak").strip()
    return {
        "vmhwm_mb": round(int(hwm[0]) / 1024, 1) if hwm else None,
        "cgroup_peak_mb": round(int(peak) / 2**20, 1) if peak.isdigit() else None,
    }


def container_run(url: str, name: str, command: list[str], timeout: float) -> dict:
    """Run COMMAND (it starts the container detached), then poll URL/ready; the container is removed."""
    subprocess.run(["podman", "rm", "-f", "--ignore", name], capture_output=True, check=False)
    started = time.monotonic()
    try:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        while not ready(url):
            if time.monotonic() - started > timeout:
                raise SystemExit(f"{name} was not ready in {timeout} s")
            time.sleep(POLL_S)
        return {"ready_s": round(time.monotonic() - started, 2), **container_memory(name)}
    finally:
        subprocess.run(["podman", "rm", "-f", "--ignore", name], capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cold-cache", action="store_true", help="host: run 1 starts with an empty cache")
    parser.add_argument("--url", help="container: where its port 8000 is published")
    parser.add_argument("--container", help="container: its name (COMMAND must use it)")
    parser.add_argument(
        "--engine", default="auto", help="host: the age-model engine (auto on amx may be int8)"
    )
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("command", nargs="*", help="container: the command that starts it detached")
    args = parser.parse_args()
    kind = cpu_info().kind
    with tempfile.TemporaryDirectory(prefix="start-to-ready-") as cache:
        for run in range(1, args.runs + 1):
            if args.container:
                figures = container_run(args.url, args.container, args.command, args.timeout)
                where = "container"
            elif args.cold_cache:
                where = "checkout, cold cache (exports)" if run == 1 else "checkout, warm cache"
                figures = host_run(Path(cache), args.engine, args.timeout)
            else:
                where = "checkout, cache as found"
                figures = host_run(_user_cache(), args.engine, args.timeout)
            engine = "image's auto" if args.container else args.engine
            print(
                json.dumps({"run": run, "where": where, "engine": engine, "cpu_kind": kind, **figures}),
                flush=True,
            )
    return 0


def _user_cache() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"


if __name__ == "__main__":
    sys.exit(main())
