"""Prometheus metrics: what an operator's scraper reads at `GET /metrics`.

One registry per application (not the library's global one), so several apps in
one process (tests) never collide. Labels hold only bounded, non-personal values:
route templates, methods, status codes, stage names, refusal reasons. Never a file
name, a client address or a request id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .admission import Admission

STAGES = ("decode", "queue", "detect", "align", "age")
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0)
_FACE_BUCKETS = (0, 1, 2, 3, 5, 10, 20, 50, 100, 200)


class ServiceMetrics:
    """The service's metrics in their own registry."""

    def __init__(
        self,
        in_flight: Callable[[], int],
        expected_wait: Callable[[], float] = lambda: 0.0,
        held_bytes: Callable[[], int] = lambda: 0,
    ):
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_resident_memory_bytes, CPU seconds, open fds
        self.requests = Counter(
            "age_http_requests", "HTTP requests answered", ("route", "method", "status"), registry=r
        )
        self.latency = Histogram(
            "age_http_request_duration_seconds",
            "Time from the request's arrival to the end of its answer",
            ("route", "method"),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.faces = Histogram(
            "age_faces_per_image", "Faces found in each analysed image", buckets=_FACE_BUCKETS, registry=r
        )
        self.stage = Histogram(
            "age_stage_duration_seconds",
            "Time per image in each stage: decode, queue (for the inference thread), detect, align, age",
            ("stage",),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.refused = Counter(
            "age_requests_refused",
            "Requests refused with 503: queue_wait (expected wait over max_queue_wait_s), memory "
            "(max_queued_bytes reached) or not_ready (models loading)",
            ("reason",),
            registry=r,
        )
        self.abandoned = Counter(
            "age_requests_abandoned",
            "Requests whose client went away while their image waited: dropped before it was computed",
            registry=r,
        )
        for name, text, read in (
            ("age_images_in_flight", "Requests admitted and not yet answered", in_flight),
            ("age_queue_expected_wait_seconds", "Expected wait of a request arriving now", expected_wait),
            (
                "age_queued_upload_bytes",
                "Bytes held by admitted uploads (bounded by max_queued_bytes)",
                held_bytes,
            ),
        ):
            Gauge(name, text, registry=r).set_function(read)
        self.model = Info("age_model", "The age model being served and where it runs", registry=r)

    @classmethod
    def of(cls, admission: Admission) -> ServiceMetrics:
        """The metrics of a service whose door is `admission`."""
        return cls(
            in_flight=lambda: admission.admitted,
            expected_wait=admission.expected_wait_s,
            held_bytes=lambda: admission.held_bytes,
        )

    def describe_model(self, name: str, version: str, device: str, engine: str) -> None:
        self.model.info({"name": name, "version": version, "device": device, "engine": engine})

    def observe_prediction(self, body: dict[str, Any]) -> None:
        """One analysed image: its face count and its stage timings (milliseconds in the answer)."""
        self.faces.observe(len(body["faces"]))
        timings = body.get("timings_ms", {})
        for stage in STAGES:
            if stage in timings:
                self.stage.labels(stage).observe(timings[stage] / 1000)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every HTTP request by route template, method and status."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = _route_label(scope)
            method = scope.get("method", "GET")
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - started)


def _route_label(scope: Scope) -> str:
    """The matched route's template (bounded); the web page's files and unknown paths share one label each."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    return path or "/ (page)"
