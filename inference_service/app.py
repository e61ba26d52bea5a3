"""create_app(settings): the FastAPI application, built from settings alone.

The lifespan starts loading the models on a background thread, so `/health`
answers at once and `/ready` says 503 until both networks are loaded and warm.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from .admission import Admission
from .api.errors import error_response, fill_examples, install_error_handlers
from .api.routes import router
from .inference import ModelRuntime, PipelineFactory, pipeline_from_settings
from .metrics import MetricsMiddleware, ServiceMetrics
from .middleware import ApiKeyMiddleware, RequestContextMiddleware
from .settings import Settings
from .vision.age_checks import THRESHOLDS_PATTERN

log = logging.getLogger(__name__)

PROTECTED_PREFIXES = ("/predict", "/model")
DESCRIPTION = (
    "Finds every face in a photo and estimates its age. Upload a photo; every face is found (RetinaFace) "
    "and gets an age (the shipped age model: GET /model) and, when asked, calibrated age checks "
    "(`?thresholds=18`). A short video gets one age per person across its frames (`POST /predict/video`)."
)


def _terminate_self(reason: str) -> None:
    """Default fatal handler: ask the server to shut down (exit status is set by __main__)."""
    os.kill(os.getpid(), signal.SIGTERM)


def create_app(
    settings: Settings,
    pipeline_factory: PipelineFactory = pipeline_from_settings,
    on_fatal: Callable[[str], None] = _terminate_self,
) -> FastAPI:
    """The application. `pipeline_factory` builds the models (tests may wrap the real one)."""
    runtime = ModelRuntime(
        settings=settings,
        admission=Admission(settings.max_queue_wait_s, settings.max_queued_bytes, settings.detector.max_side),
        factory=pipeline_factory,
        on_fatal=on_fatal,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.decode_limiter = anyio.CapacityLimiter(settings.decode_threads)
        runtime.start_loading()
        yield
        runtime.stop()
        log.info("shut down cleanly", extra={"event": "shutdown"})

    app = FastAPI(
        title="Age estimator",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    install_error_handlers(app, settings.retry_after_s)
    app.include_router(router)

    # Outermost last: request id -> CORS -> API key -> routes.
    if settings.api_key is not None:
        app.add_middleware(
            ApiKeyMiddleware,
            api_key=settings.api_key.get_secret_value(),
            protected_prefixes=PROTECTED_PREFIXES,
        )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
    )
    app.add_middleware(RequestContextMiddleware)
    app.state.metrics = None
    if settings.metrics_enabled:  # outermost: counts every answer, the 401s and last-resort 500s too
        app.state.metrics = ServiceMetrics.of(runtime.admission)
        app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)

    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]

    if settings.frontend_dir.is_dir() and (settings.frontend_dir / "index.html").is_file():
        allowed = {path: "GET, HEAD" for path in (app.openapi_url, app.docs_url, app.redoc_url) if path}
        allowed["/docs/oauth2-redirect"] = "GET, HEAD"
        for route in router.routes:
            allowed[route.path] = ", ".join(sorted(getattr(route, "methods", None) or {"GET"}))
        app.mount("/", FrontendFiles(allowed, directory=settings.frontend_dir, html=True), name="frontend")
    return app


class FrontendFiles(StaticFiles):
    """The built web page at /, except that an API path with the wrong method stays a 405."""

    def __init__(self, allowed_methods: dict[str, str], **kwargs: Any):
        super().__init__(**kwargs)
        self.allowed_methods = allowed_methods  # API path -> its Allow header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.allowed_methods:
            allow = self.allowed_methods[scope["path"]]
            response = error_response(405, "Method Not Allowed", {"Allow": allow})
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """FastAPI's document, plus what it cannot infer: the configured limits and the X-Request-ID header."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    batch = schema["paths"]["/predict/batch"]["post"]["requestBody"]["content"]["multipart/form-data"]
    batch["schema"]["properties"]["files"]["maxItems"] = settings.max_batch_files
    fill_examples(schema, settings.model_dump())
    for route in ("/predict", "/predict/batch", "/predict/video"):
        for parameter in schema["paths"][route]["post"].get("parameters", []):
            if parameter["name"] == "thresholds":  # documented only: the parser's errors say which value
                parameter["schema"]["anyOf"][0]["pattern"] = THRESHOLDS_PATTERN
    for path in schema["paths"].values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                response.setdefault("headers", {})["X-Request-ID"] = {
                    "description": "the request id, also found in the service's logs",
                    "schema": {"type": "string"},
                }
    app.openapi_schema = schema
    return schema


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory inference_service.app:create_app_from_env`."""
    return create_app(Settings.load())
