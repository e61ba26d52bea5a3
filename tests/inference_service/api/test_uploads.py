"""Nothing a user uploads is written to disk or to the logs."""

from __future__ import annotations

import os
import random

import httpx

from ..server import DLIB, ServerProcess


def _snapshot(folder: str) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            stat = os.stat(os.path.join(root, name))
            found[os.path.join(root, name)] = (stat.st_size, stat.st_mtime_ns)
    return found


def test_uploads_never_reach_disk_or_logs(client: httpx.Client, server: ServerProcess) -> None:
    tmpdir = str(server.tmpdir)  # type: ignore[attr-defined]
    before = _snapshot(tmpdir)
    photo = (DLIB / "2008_002470.jpg").read_bytes()
    # A 6 MB upload: over the 1 MB at which Starlette's own form parser would spool to disk.
    padded = photo + os.urandom(6 * 1024 * 1024)
    secret_name = "private-holiday-7f3a9c.jpg"
    for data in (photo, padded):
        response = client.post("/predict", files={"file": (secret_name, data, "image/jpeg")})
        assert response.status_code == 200, response.text
    # The libraries leave a few bytes of their own at start-up (torch's inductor
    # folder, a 51-byte session file); uploads add and change nothing.
    assert _snapshot(tmpdir) == before
    assert all(size < 1024 for size, _ in before.values())
    log = server.log().encode("utf-8", "replace")
    assert secret_name.encode() not in log
    rng = random.Random(3)
    for _ in range(200):  # no 12-byte window of the photo appears in the log
        start = rng.randrange(0, len(photo) - 12)
        assert photo[start : start + 12] not in log
    assert b"\\xff\\xd8" not in log and b"JFIF" not in log
