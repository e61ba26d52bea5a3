"""Start real service processes (uvicorn on a free port) for the tests, and stop them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.processes import free_port, memory_mb, stop_gracefully

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = REPO / "models" / "age-resnet50.safetensors"
SHARED = REPO.parent / "shared"
PHOTOS = SHARED / "data" / "photos"
DLIB = PHOTOS / "dlib_examples"
UTKFACE = SHARED / "data" / "utkface"


def _toml_line(key: str, value: object) -> str:
    if isinstance(value, bool):
        return f"{key} = {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"{key} = {value}"
    if isinstance(value, list):
        return f"{key} = {json.dumps([str(v) for v in value])}"
    return f"{key} = {json.dumps(str(value))}"


def write_config(path: Path, **values: object) -> Path:
    """A TOML service.cfg: a [service] table, and a dict value as its section (detector={...})."""
    lines = ["[service]"]
    sections = {key: value for key, value in values.items() if isinstance(value, dict)}
    lines += [_toml_line(key, value) for key, value in values.items() if key not in sections]
    for name, section in sections.items():
        lines += [f"[service.{name}]", *(_toml_line(key, value) for key, value in section.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


class ServerProcess:
    """One service process; its JSON-lines log goes to a file the tests can read."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None, port: int = 0):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        full_env = {k: v for k, v in full_env.items() if not k.startswith("AGE_") or k in (env or {})}
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, *args], cwd=REPO, env=full_env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @classmethod
    def service(cls, config: Path, log_path: Path, env: dict[str, str] | None = None) -> ServerProcess:
        port = free_port()
        args = ["-m", "inference_service", "--config", str(config), "--port", str(port)]
        return cls(args, log_path, env, port)

    def wait_ready(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"server not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def rss_mb(self) -> float:
        return memory_mb(self.proc.pid, "VmRSS")

    def stop(self, timeout: float = 30.0) -> int:
        code = stop_gracefully(self.proc, timeout)
        self._log.close()
        return code
