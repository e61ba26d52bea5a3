"""ASGI middleware: request ids, the access log, the last-resort 500, the API key.

Written as plain ASGI (not BaseHTTPMiddleware) so that request bodies stream
through untouched and nothing is buffered.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logging_setup import request_id_var

log = logging.getLogger("inference_service.access")

REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


async def _send_json(send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestContextMiddleware:
    """Gives each request an id (kept from X-Request-ID when sane), logs one line per request,
    and turns any unhandled exception into a JSON 500 carrying that id."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [
                    *[(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"event": "unhandled_error"})
            if not response_started:
                detail = f"Internal error while processing the request (request id {request_id})."
                await _send_json(send, 500, {"detail": detail}, [(b"x-request-id", request_id.encode())])
                status = 500
        finally:
            client = scope.get("client")
            log.info(
                "%s %s %s",
                scope.get("method"),
                scope.get("path"),
                status,
                extra={
                    "event": "request",
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "client": client[0] if client else None,
                },
            )
            request_id_var.reset(token)


class ApiKeyMiddleware:
    """When a key is configured, the API paths (`protected_prefixes`) need `X-API-Key`.

    Probes (/health, /ready), the docs and the static web page stay open: they
    carry no user data and orchestrators must reach them without secrets.

    The comparison is constant-time (hmac.compare_digest) so the key cannot be
    guessed byte by byte from response times.
    """

    def __init__(self, app: ASGIApp, api_key: str, protected_prefixes: tuple[str, ...]):
        self.app = app
        self.key = api_key.encode()
        self.protected_prefixes = protected_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or not self._protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-api-key", b"")
        if not hmac.compare_digest(given, self.key):
            await _send_json(send, 401, {"detail": "A valid X-API-Key header is required."}, [])
            return
        await self.app(scope, receive, send)

    def _protected(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.protected_prefixes)
