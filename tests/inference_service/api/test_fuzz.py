"""Schemathesis against the live service's /openapi.json: zero failures.

Run through its CLI (the pytest plugin's lazy loader does not work with pytest 9);
the checks and their few documented adjustments live in schemathesis.toml here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from ..server import ServerProcess

CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_finds_no_failures(server: ServerProcess, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(CONFIG),
        "--no-color",
        "run", server.url + "/openapi.json",
        "--max-examples", "40",
        "--seed", "20261122",
        "--request-timeout", "60",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Tested: 6" in output and "No issues found" in output
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200
