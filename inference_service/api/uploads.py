"""Reading multipart uploads from the socket into memory, under a byte limit.

We parse the body ourselves instead of using Starlette's form parser because
that one spools parts over 1 MB to a temporary file, and nothing a user uploads
may touch the disk. The declared Content-Length is checked before a byte is
read; the bytes actually received are counted as they stream in, and the
request is refused with 413 the moment they pass the limit, so an over-limit
body is never held whole. The whole body must also arrive within a deadline, so
a client that trickles bytes (slowloris) gets 408 instead of holding a slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from ..admission import ClientGone
from .errors import ApiError

OnReceived = Callable[[int], None]

# Room for the multipart boundaries and part headers around the file bytes.
FORM_OVERHEAD_BYTES = 16 * 1024


@dataclass
class UploadedFile:
    filename: str | None
    data: bytearray = field(default_factory=bytearray)
    too_large: bool = False


@dataclass
class _PartState:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    upload: UploadedFile | None = None  # set when the part is a wanted file field


def _human(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


class _FileParts:
    """multipart parser callbacks that keep the parts named `field_name`, each under a byte limit."""

    def __init__(self, field_name: str, max_files: int, max_file_bytes: int):
        self.field_name, self.max_files, self.max_file_bytes = field_name, max_files, max_file_bytes
        self.files: list[UploadedFile] = []
        self.too_many = False
        self.state = _PartState()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
        }

    def on_part_begin(self) -> None:
        self.state = _PartState()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.state.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.state.header_value += data[start:end]

    def on_header_end(self) -> None:
        state = self.state
        state.headers[bytes(state.header_field).lower()] = bytes(state.header_value)
        state.header_field.clear()
        state.header_value.clear()

    def on_headers_finished(self) -> None:
        _, disposition = parse_options_header(self.state.headers.get(b"content-disposition"))
        if disposition.get(b"name", b"").decode("latin-1") != self.field_name:
            return
        if len(self.files) >= self.max_files:
            self.too_many = True
            return
        filename = disposition.get(b"filename")
        self.state.upload = UploadedFile(filename=filename.decode("utf-8", "replace") if filename else None)
        self.files.append(self.state.upload)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        upload = self.state.upload
        if upload is None or upload.too_large:
            return
        if len(upload.data) + (end - start) > self.max_file_bytes:
            upload.too_large = True
            upload.data = bytearray()  # drop what we had; the rest is skipped
            return
        upload.data += data[start:end]


def _check_declared_length(request: Request, body_limit: int) -> int:
    """The declared Content-Length (0 when absent), refused with 413 over the limit."""
    declared = request.headers.get("content-length")
    if declared is None:
        return 0
    try:
        declared_bytes = int(declared)
    except ValueError:
        raise ApiError(400, "The Content-Length header is not a number.") from None
    if declared_bytes > body_limit:
        raise ApiError(413, f"The upload is {_human(declared_bytes)}; the limit is {_human(body_limit)}.")
    return declared_bytes


async def _stream_into(
    request: Request, parser: MultipartParser, body_limit: int, timeout_s: float, on_received: OnReceived
) -> None:
    received = 0
    try:
        with anyio.fail_after(timeout_s):
            async for chunk in request.stream():
                received += len(chunk)
                if received > body_limit:
                    raise ApiError(413, f"The upload is larger than the limit of {_human(body_limit)}.")
                on_received(received)
                if chunk:
                    parser.write(chunk)
        parser.finalize()
    except FormParserError:
        raise ApiError(400, "The request body is not valid multipart/form-data.") from None
    except TimeoutError:
        raise ApiError(408, f"The upload did not arrive within {timeout_s:g} s.") from None
    except ClientDisconnect:
        raise ClientGone("the client went away during the upload") from None


async def read_files(
    request: Request,
    field_name: str,
    max_files: int,
    max_file_bytes: int,
    timeout_s: float,
    on_received: OnReceived = lambda _: None,
) -> list[UploadedFile]:
    """The parts named `field_name` of a multipart/form-data body, in order.

    A file over `max_file_bytes` is kept as an empty `too_large` entry (the caller
    decides what that means); a body larger than all files together may be is
    refused with 413; no such field at all is a 422; a body still arriving after
    `timeout_s` is a 408. `on_received` hears the declared length, then the bytes
    received so far (admission holds memory for them; it may refuse).
    """
    body_limit = max_files * (max_file_bytes + FORM_OVERHEAD_BYTES)
    on_received(_check_declared_length(request, body_limit))
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ApiError(422, f"Send the image as multipart/form-data in a field named '{field_name}'.")
    parts = _FileParts(field_name, max_files, max_file_bytes)
    try:
        parser = MultipartParser(boundary, callbacks=parts.callbacks())  # type: ignore[arg-type]
    except FormParserError:
        raise ApiError(400, "The request body is not valid multipart/form-data.") from None
    await _stream_into(request, parser, body_limit, timeout_s, on_received)
    if parts.too_many:
        raise ApiError(422, f"Too many files: at most {max_files} per request.")
    if not parts.files:
        raise ApiError(422, f"The multipart field '{field_name}' is missing.")
    return parts.files
