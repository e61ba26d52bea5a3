"""One JSON error shape for every failure: `{"detail": "<one line>"}`.

Each exception the service raises on purpose maps to one status code here, and
the same table feeds the OpenAPI document, so the two cannot drift apart.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..logging_setup import request_id_var
from ..vision.decode import ImageError
from ..worker import InferenceFailed, NotReady, Overloaded

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A client error with its status code and a one-line explanation."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": " ".join(str(detail).split())}, status_code=status, headers=headers)


def internal_error_detail() -> str:
    return f"Internal error while processing the request (request id {request_id_var.get() or 'unknown'})."


def _count_refusal(request: Request, reason: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.refused.labels(reason).inc()


def install_error_handlers(app: FastAPI, retry_after_s: int) -> None:
    retry = {"Retry-After": str(retry_after_s)}

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.detail, exc.headers)

    @app.exception_handler(ImageError)
    async def _image_error(_: Request, exc: ImageError) -> JSONResponse:
        return error_response(exc.status, str(exc))

    @app.exception_handler(Overloaded)
    async def _overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        _count_refusal(request, "overloaded")
        return error_response(503, "The service is busy; retry after a moment.", retry)

    @app.exception_handler(NotReady)
    async def _not_ready(request: Request, exc: NotReady) -> JSONResponse:
        _count_refusal(request, "not_ready")
        return error_response(503, str(exc), retry)

    @app.exception_handler(InferenceFailed)
    async def _inference_failed(_: Request, exc: InferenceFailed) -> JSONResponse:
        return error_response(500, internal_error_detail())

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(422, f"Invalid request: {where} {first.get('msg', '')}".strip())
