"""Reading uploads (api/uploads.py): multipart only, under a byte limit counted as the body streams in,
within a deadline that stalled and trickling (slow-loris) clients alike meet; nothing a user uploads is
written to disk or to the logs."""

from __future__ import annotations

import os
import random
import select
import socket
import threading
import time

import httpx
import pytest

from ..conftest import SESSION_UPLOAD_TIMEOUT_S
from ..server import DLIB, ServerProcess
from .conftest import assert_error, post_file

MAX_UPLOAD_BYTES = 15 * 1024 * 1024  # service.cfg's limit, which the session server keeps


def test_empty_body(client: httpx.Client) -> None:
    assert_error(client.post("/predict"), 422)


def test_empty_multipart_body(client: httpx.Client) -> None:
    response = client.post(
        "/predict", content=b"", headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert_error(response, 422)


def test_missing_field(client: httpx.Client) -> None:
    photo = (DLIB / "2008_002506.jpg").read_bytes()
    detail = assert_error(client.post("/predict", files={"image": ("a.jpg", photo)}), 422)
    assert "'file'" in detail


def test_malformed_multipart(client: httpx.Client) -> None:
    form = {"content-type": "multipart/form-data; boundary=x"}
    response = client.post("/predict", content=b"this is not multipart at all", headers=form)
    assert_error(response, 400)


def test_upload_over_byte_limit_by_content_length(client: httpx.Client) -> None:
    big = os.urandom(MAX_UPLOAD_BYTES + 1024 * 1024)
    assert_error(post_file(client, big, "big.jpg"), 413)


def test_upload_over_byte_limit_streamed_is_cut_off(server: ServerProcess) -> None:
    """No Content-Length (chunked): the server counts while reading and answers 413 early.

    We offer 200 MiB; the server must answer after reading about the limit, and its
    memory must not grow by the body size.
    """
    rss_before = server.rss_mb()
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=BOUND\r\n\r\n"
        )
        head = b'--BOUND\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        block = os.urandom(1024 * 1024)
        chunk = b"%x\r\n%s\r\n" % (len(block), block)
        sent = 0
        sock.settimeout(2)
        reply = b""
        for _ in range(200):
            try:
                sock.sendall(chunk)
                sent += len(block)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                reply += sock.recv(65536)
                break
        sock.settimeout(30)
        while b"\r\n\r\n" not in reply:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert sent < 100 * 1024 * 1024, f"the client could push {sent} bytes"
    assert server.rss_mb() - rss_before < 100


def test_stalled_upload_gets_408_and_frees_its_slot(
    server: ServerProcess, server_client: httpx.Client
) -> None:
    """A client that announces a body and then stops sending (slowloris) is answered 408 at the deadline."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        head = b'--BOUND\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
            b"Content-Type: multipart/form-data; boundary=BOUND\r\n\r\n" + head + b"\xff\xd8" + bytes(1000)
        )
        reply = b""
        while not reply.endswith(b"}"):  # the JSON error body closes the reply
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"did not arrive within" in reply
    assert SESSION_UPLOAD_TIMEOUT_S - 0.5 <= waited < SESSION_UPLOAD_TIMEOUT_S + 20, waited
    assert server_client.get("/ready").status_code == 200


def _trickle_until_answered(port: int, answers: list[bytes]) -> None:
    """Slow-loris: announce a 100 kB body, then send one byte every 0.25 s until the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
            b"Content-Type: multipart/form-data; boundary=BOUND\r\n\r\n"
            b'--BOUND\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n\xff\xd8'
        )
        reply = b""
        deadline = time.monotonic() + SESSION_UPLOAD_TIMEOUT_S + 30
        while not reply.endswith(b"}") and time.monotonic() < deadline:
            if select.select([sock], [], [], 0.25)[0]:
                data = sock.recv(65536)
                if not data:
                    break
                reply += data
            elif not reply:
                sock.sendall(b"\x00")  # bytes keep arriving: only the total deadline can end this
        answers.append(reply)


def test_trickling_uploads_get_408_at_the_deadline_and_free_their_places(
    server: ServerProcess, server_client: httpx.Client
) -> None:
    """Eight clients trickling bytes do not hold the door: a photo is answered meanwhile, each trickler gets
    408 at upload_timeout_s although its bytes never stopped, and afterwards nothing is left admitted."""
    answers: list[bytes] = []
    threads = [
        threading.Thread(target=_trickle_until_answered, args=(server.port, answers)) for _ in range(8)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    photo = (DLIB / "2008_002470.jpg").read_bytes()
    assert server_client.post("/predict", files={"file": ("a.jpg", photo)}).status_code == 200
    for thread in threads:
        thread.join()
    waited = time.monotonic() - started
    codes = sorted({reply[9:12].decode() for reply in answers})
    print(f"slow-loris: 8 tricklers answered {codes} after {waited:.1f} s")
    assert len(answers) == 8 and all(reply.startswith(b"HTTP/1.1 408") for reply in answers), answers
    assert SESSION_UPLOAD_TIMEOUT_S - 0.5 <= waited < SESSION_UPLOAD_TIMEOUT_S + 20, waited
    gauges = {
        name: float(value)
        for name, value in (line.rsplit(" ", 1) for line in server_client.get("/metrics").text.splitlines())
        if name in ("age_images_in_flight", "age_queued_upload_bytes", "age_queue_expected_wait_seconds")
    }
    assert gauges == dict.fromkeys(gauges, 0.0) and len(gauges) == 3, gauges


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_wrong_content_type(client: httpx.Client, path: str) -> None:
    response = client.post(path, json={"file": "not an upload"})
    assert_error(response, 422)


def _snapshot(folder: str) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            stat = os.stat(os.path.join(root, name))
            found[os.path.join(root, name)] = (stat.st_size, stat.st_mtime_ns)
    return found


def test_uploads_never_reach_disk_or_logs(server_client: httpx.Client, server: ServerProcess) -> None:
    tmpdir = str(server.tmpdir)  # type: ignore[attr-defined]
    before = _snapshot(tmpdir)
    photo = (DLIB / "2008_002470.jpg").read_bytes()
    # A 6 MB upload: over the 1 MB at which Starlette's own form parser would spool to disk.
    padded = photo + os.urandom(6 * 1024 * 1024)
    secret_name = "private-holiday-7f3a9c.jpg"
    for data in (photo, padded):
        response = server_client.post("/predict", files={"file": (secret_name, data, "image/jpeg")})
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
