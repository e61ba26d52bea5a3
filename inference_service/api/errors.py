"""One JSON error shape for every failure: `{"detail": "<one line>"}`.

Each exception the service raises on purpose maps to its status in `status_of`,
used by the handlers and by the batch route alike; `ERRORS` documents every
status, and the OpenAPI document is built from it, so the two cannot drift apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..admission import ClientGone, Overloaded
from ..logging_setup import request_id_var
from ..vision.decode import ImageError
from ..worker import InferenceFailed, NotReady
from .schemas import ErrorResponse

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A client error with its status code and a one-line explanation."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def file_too_large(limit: int) -> ApiError:
    """One file over `max_upload_bytes`: the batch route's entry and the bulk annotator's row say the same."""
    return ApiError(413, f"The file is larger than the limit of {limit:,} bytes.")


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": " ".join(str(detail).split())}, status_code=status, headers=headers)


def internal_error_detail() -> str:
    return f"Internal error while processing the request (request id {request_id_var.get() or 'unknown'})."


@dataclass(frozen=True)
class ErrorDoc:
    """One status code as the OpenAPI document describes it. `{key}` in the example is a setting."""

    when: str
    example: str


# The one table of statuses the service answers on purpose: the OpenAPI responses come from it, and
# `_openapi` in app.py fills the settings into the examples, so the documented limits are the real ones.
ERRORS: dict[int, ErrorDoc] = {
    400: ErrorDoc(
        "The upload is not a decodable image (truncated or corrupt), or the body is not valid multipart.",
        "The image data is broken (OSError).",
    ),
    401: ErrorDoc(
        "Only when `api_key` is configured: the X-API-Key header is missing or wrong.",
        "A valid X-API-Key header is required.",
    ),
    404: ErrorDoc(
        "The resource is switched off in the settings.", "Metrics are switched off (metrics_enabled = false)."
    ),
    408: ErrorDoc(
        "The request body was still arriving after `upload_timeout_s` (a stalled or very slow client).",
        "The upload did not arrive within {upload_timeout_s:g} s.",
    ),
    413: ErrorDoc(
        "The upload is over the byte limit, or the image over the pixel limit.",
        "The image is 30000x30000 pixels; the limit is {max_image_pixels:,} pixels.",
    ),
    415: ErrorDoc(
        "The upload is not an image, or its format is not supported (SVG, PDF, text...).",
        "The upload is not an image Pillow can identify.",
    ),
    422: ErrorDoc(
        "The request is not multipart/form-data, lacks the file field, or has too many files (at most "
        "{max_batch_files}); or `thresholds` is malformed, out of the model's age range, or asked of a "
        "model without a distribution.",
        "The multipart field 'file' is missing.",
    ),
    500: ErrorDoc(
        "The detector or the age model failed on this image; the detail carries the request id.",
        "Internal error while processing the request (request id 5f0c6d0e9b7a4c55).",
    ),
    503: ErrorDoc(
        "The models are still loading, or the work queued ahead would take longer than `max_queue_wait_s` "
        "({max_queue_wait_s:g} s) to start, or the queued uploads hold `max_queued_bytes`. Retry-After "
        "says when to try again: a return slot at or after the time the queue is expected to have room, "
        "spread so that refused clients come back as fast as the queue drains.",
        "The service is busy; retry after a moment.",
    ),
}
BUSY_DETAIL = ERRORS[503].example
QUEUE_WAIT = "X-Queue-Wait"  # on a 503 of the queue: its expected wait in seconds, for clients that decide
CLIENT_GONE = 499  # not in ERRORS: no client ever reads it


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these statuses, from the table."""
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {
            "model": ErrorResponse,
            "description": ERRORS[code].when,
            "content": {"application/json": {"example": {"detail": ERRORS[code].example}}},
        }
        if code == 503:
            entry["headers"] = {
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}},
                QUEUE_WAIT: {
                    "description": "a refusal by the queue: the seconds a request arriving now would wait",
                    "schema": {"type": "number"},
                },
            }
        responses[code] = entry
    return responses


def fill_examples(schema: dict[str, Any], settings: dict[str, Any]) -> None:
    """Put the configured limits into the documented error texts (called once per OpenAPI build)."""
    for path in schema["paths"].values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                response["description"] = response.get("description", "").format_map(settings)
                example = response.get("content", {}).get("application/json", {}).get("example", {})
                if isinstance(example.get("detail"), str):
                    example["detail"] = example["detail"].format_map(settings)


def status_of(exc: Exception) -> tuple[int, str, dict[str, str]]:
    """(status, one-line detail, headers) for an exception the service raises on purpose."""
    if isinstance(exc, ApiError):
        return exc.status, exc.detail, exc.headers
    if isinstance(exc, ImageError):
        return exc.status, str(exc), {}
    if isinstance(exc, Overloaded):
        return (
            503,
            BUSY_DETAIL,
            {"Retry-After": str(exc.retry_after_s), QUEUE_WAIT: f"{exc.expected_wait_s:.1f}"},
        )
    if isinstance(exc, ClientGone):  # nginx's "client closed request": logged and counted, never received
        return CLIENT_GONE, str(exc), {}
    if isinstance(exc, NotReady):
        return 503, str(exc), {}
    if isinstance(exc, InferenceFailed):
        return 500, internal_error_detail(), {}
    raise TypeError(f"{type(exc).__name__} is not an expected error") from exc


def _count_refusal(request: Request, exc: Exception) -> None:
    """A 503 the service chose counts in `age_requests_refused` by reason; a dropped job in
    `age_requests_abandoned`."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is None:
        return
    if isinstance(exc, Overloaded):
        metrics.refused.labels(exc.reason).inc()
    elif isinstance(exc, NotReady):
        metrics.refused.labels("not_ready").inc()
    elif isinstance(exc, ClientGone):
        metrics.abandoned.inc()


def install_error_handlers(app: FastAPI, retry_after_s: int) -> None:
    retry = {"Retry-After": str(retry_after_s)}  # while the models load; an overload says its own

    async def _expected(request: Request, exc: Exception) -> JSONResponse:
        status, detail, headers = status_of(exc)
        _count_refusal(request, exc)
        return error_response(status, detail, {**(retry if status == 503 else {}), **headers})

    for kind in (ApiError, ImageError, Overloaded, NotReady, InferenceFailed, ClientGone):
        app.add_exception_handler(kind, _expected)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(422, f"Invalid request: {where} {first.get('msg', '')}".strip())
