"""A real multi-node Ray cluster on this machine for the tests: `ray start --head` plus more nodes.

Every node and the driver talk to 127.0.0.1 with a random auth token, session files live in a temp
folder, and stopping kills exactly the processes this cluster started (found by a marker in their
environment, which Ray's renamed worker processes keep), so it cleans up after a failed test and
never touches another Ray on the machine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.processes import free_port

RAY = Path(sys.executable).parent / "ray"
MARKER = "AGE_TEST_RAY_CLUSTER"
# As the embedded Ray of `annotate` (bulk.run.local_system_config): no spilling, and workers for decoding
# kept alive beside an actor on a 1-CPU node instead of restarted for every task.
SYSTEM_CONFIG = '{"automatic_object_spilling_enabled": false, "num_workers_soft_limit": 4}'


class RayCluster:
    """`nodes` Ray nodes of `cpus` CPUs each; `env` is what a driver needs to join (`address`, or with
    `client` the head's Ray Client server at `client_address`, which needs grpcio: `ray[client]`)."""

    def __init__(
        self, temp_dir: Path, nodes: int = 2, cpus: int = 1, timeout_s: float = 120.0, client: bool = False
    ):
        self.temp_dir, self.nodes, self.cpus, self.timeout_s = temp_dir, nodes, cpus, timeout_s
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.client_port = free_port() if client else None
        self.client_address = f"ray://127.0.0.1:{self.client_port}"
        self.marker = secrets.token_hex(8)
        self.env = {
            **os.environ,
            MARKER: self.marker,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(16),
            "RAY_USAGE_STATS_ENABLED": "0",
        }

    def _ray(self, *args: str) -> None:
        common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(self.cpus), "--disable-usage-stats"]
        subprocess.run(
            [str(RAY), "start", *args, *common, "--temp-dir", str(self.temp_dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=self.timeout_s,
            check=True,
        )

    def start(self) -> RayCluster:
        client = ["--ray-client-server-port", str(self.client_port)] if self.client_port else []
        self._ray(
            "--head",
            "--port",
            str(self.port),
            "--include-dashboard=false",
            "--system-config",
            SYSTEM_CONFIG,
            *client,
        )
        for _ in range(self.nodes - 1):
            self._ray("--address", self.address)
        return self

    def processes(self) -> list[int]:
        """Every live process started by this cluster: its marker is in their environment, or, for
        the agents whose process title overwrote it, they hold a file in this cluster's temp dir."""
        found = []
        needle = f"{MARKER}={self.marker}".encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if needle in (entry / "environ").read_bytes().split(b"\0") or self._holds_session(entry):
                        found.append(int(entry.name))
                except OSError:
                    continue
        return [pid for pid in found if pid != os.getpid()]

    def _holds_session(self, entry: Path) -> bool:
        prefix = str(self.temp_dir)
        return any(os.readlink(fd).startswith(prefix) for fd in (entry / "fd").iterdir())

    def stop(self, grace_s: float = 2.0) -> None:
        """SIGTERM, then SIGKILL what is left after `grace_s`: only this cluster's processes."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.processes():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + grace_s
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.2)
