"""Helpers for the scripts and tests that start a real server process and measure it.

One copy of each: a free loopback port, waiting for /ready, a memory figure and CPU time from /proc, and a
graceful stop.
Benchmarks import it as `processes` (their own folder is on the path); tests as `bench.processes`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

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
