"""Bad input against the real server: each gets its documented status and a one-line detail."""

from __future__ import annotations

import os
import select
import socket
import struct
import time
import zlib

import httpx
import pytest

from ..conftest import SESSION_UPLOAD_TIMEOUT_S, encode
from ..server import DLIB, ServerProcess

MAX_UPLOAD_BYTES = 15 * 1024 * 1024  # service.cfg's limit, which the session server keeps


def assert_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail"}
    assert body["detail"] and "\n" not in body["detail"]
    assert response.headers["x-request-id"]
    return body["detail"]


def post_file(client: httpx.Client, data: bytes, name: str = "upload.jpg") -> httpx.Response:
    return client.post("/predict", files={"file": (name, data, "image/jpeg")})


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


def test_empty_file(client: httpx.Client) -> None:
    assert_error(post_file(client, b""), 415)


def test_text_file_named_jpg(client: httpx.Client) -> None:
    assert_error(post_file(client, b"just some notes, not a picture\n" * 20, "holiday.jpg"), 415)


def test_svg_is_rejected(client: httpx.Client) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle r="30"/></svg>'
    assert_error(post_file(client, svg, "logo.svg"), 415)


def test_truncated_jpeg(client: httpx.Client) -> None:
    photo = (DLIB / "2008_002506.jpg").read_bytes()
    assert_error(post_file(client, photo[: len(photo) // 3]), 400)


def test_malformed_multipart(client: httpx.Client) -> None:
    form = {"content-type": "multipart/form-data; boundary=x"}
    response = client.post("/predict", content=b"this is not multipart at all", headers=form)
    assert_error(response, 400)


def _png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid PNG header declaring a huge canvas, with one tiny compressed row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_image_bomb_refused_from_header(client: httpx.Client, server: ServerProcess) -> None:
    bomb = _png_bomb()
    assert len(bomb) < 200
    rss_before = server.rss_mb()
    started = time.perf_counter()
    detail = assert_error(post_file(client, bomb, "bomb.png"), 413)
    assert time.perf_counter() - started < 10
    assert "30000x30000" in detail
    # 30000 x 30000 x 3 bytes would be 2.7 GB; the server never allocated it.
    assert server.rss_mb() - rss_before < 200


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


def test_stalled_upload_gets_408_and_frees_its_slot(server: ServerProcess, client: httpx.Client) -> None:
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
    assert client.get("/ready").status_code == 200


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_wrong_content_type(client: httpx.Client, path: str) -> None:
    response = client.post(path, json={"file": "not an upload"})
    assert_error(response, 422)


def test_unknown_path_and_wrong_method(client: httpx.Client) -> None:
    assert_error(client.get("/no-such-endpoint"), 404)
    assert_error(client.get("/predict"), 405)


def test_server_still_healthy_after_bad_input(client: httpx.Client) -> None:
    response = post_file(client, (DLIB / "2008_001009.jpg").read_bytes())
    assert response.status_code == 200 and len(response.json()["faces"]) == 2
    assert encode  # shared helper import is used by other modules
