"""Helpers for the scripts and tests that start a real server process and measure it.

One copy of each: a free loopback port, waiting for /ready, a memory figure and CPU time from /proc, a
graceful stop, a fresh service for the length of a block, and a benchmark's JSON report.
Benchmarks import it as `processes` (their own folder is on the path); tests as `bench.processes`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

HOST = "127.0.0.1"


def emit(report: dict, out=None) -> None:
    """Print a benchmark's JSON report; also write it (indented) to `out`, a Path, when given."""
    print(json.dumps(report))
    if out:
        out.write_text(json.dumps(report, indent=2) + "\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def memory_mb(pid: int | str, field: str = "VmRSS") -> float:
    """A memory field of /proc/PID/status in MB: VmRSS (resident now) or VmHWM (the most ever);
    NaN once the process has gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except FileNotFoundError:
        pass
    return float("nan")


def cpu_seconds(pid: int | str) -> float:
    """CPU time the process has used so far (user + system), in seconds; NaN once it has gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    except (FileNotFoundError, ProcessLookupError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(url: str, timeout_s: float, process: subprocess.Popen | None = None) -> bool:
    """Poll `url` + /ready every 0.5 s: True once it answers 200, False when `process` exits first or
    `timeout_s` runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (process is None or process.poll() is None):
        try:
            with urllib.request.urlopen(url + "/ready", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:  # not listening yet, or 503 while the models load
            pass
        time.sleep(0.5)
    return False


def stop_gracefully(process: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGTERM (uvicorn and Prometheus shut down cleanly on it), then SIGKILL after `timeout` s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@contextmanager
def running_service(config: str, **env: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """A fresh `python -m inference_service` on a free port with `config` and `AGE_*` variables `env`, for the
    block: (its process, its base URL) once /ready answers; stopped gracefully after."""
    port = free_port()
    variables = {**os.environ, "PYTHONPATH": str(REPO), "AGE_LOG_LEVEL": "warning", **env}
    command = [sys.executable, "-m", "inference_service", "--config", config, "--port", str(port)]
    process = subprocess.Popen(command, cwd=REPO, env=variables)
    try:
        base = f"http://{HOST}:{port}"
        if not wait_ready(base, 600, process):
            raise TimeoutError(f"{base} did not become ready")
        yield process, base
    finally:
        stop_gracefully(process)
