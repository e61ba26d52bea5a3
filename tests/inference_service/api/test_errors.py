"""Bad images and paths: each gets its documented status and a one-line detail (api/errors.py).

Bad request bodies (not multipart, too large, too slow): test_uploads.py.
"""

from __future__ import annotations

import struct
import time
import zlib

import httpx

from ..conftest import encode
from ..server import DLIB, ServerProcess
from .conftest import assert_error, post_file


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


def test_image_bomb_refused_from_header(server_client: httpx.Client, server: ServerProcess) -> None:
    bomb = _png_bomb()
    assert len(bomb) < 200
    rss_before = server.rss_mb()
    started = time.perf_counter()
    detail = assert_error(post_file(server_client, bomb, "bomb.png"), 413)
    assert time.perf_counter() - started < 10
    assert "30000x30000" in detail
    # 30000 x 30000 x 3 bytes would be 2.7 GB; the server never allocated it.
    assert server.rss_mb() - rss_before < 200


def test_unknown_path_and_wrong_method(client: httpx.Client) -> None:
    assert_error(client.get("/no-such-endpoint"), 404)
    assert_error(client.get("/predict"), 405)


def test_server_still_healthy_after_bad_input(client: httpx.Client) -> None:
    response = post_file(client, (DLIB / "2008_001009.jpg").read_bytes())
    assert response.status_code == 200 and len(response.json()["faces"]) == 2
    assert encode  # shared helper import is used by other modules
