"""Bounded work: admission at the door and one inference thread behind it.

`RequestGate` admits at most `max_pending` requests at once (reading, decoding,
waiting or running); the next one is refused at once with `Overloaded`, which
the API turns into `503` + `Retry-After`, so overload never piles up latency or
memory.

`InferenceWorker` owns the models: every image goes through one dedicated thread
in arrival order, so torch and onnxruntime never compete with themselves for the
cores. Its interface is deliberately small (`start`, `predict`, `stop`): a later
performance pass can drain several queued jobs in `_run` and push their face
crops through the age network as one micro-batch without touching callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .logging_setup import request_id_var
from .vision.pipeline import Prediction

log = logging.getLogger(__name__)


class Overloaded(RuntimeError):
    """Too many requests are in flight; the caller should retry later."""


class NotReady(RuntimeError):
    """The models are still loading (or failed to load)."""


class InferenceFailed(RuntimeError):
    """The detector or the age model raised on one image."""


class RequestGate:
    """Counts admitted requests; refuses instead of queueing past the bound."""

    def __init__(self, max_pending: int):
        self.max_pending = max_pending
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        return self._pending

    @contextmanager
    def admit(self) -> Iterator[None]:
        with self._lock:
            if self._pending >= self.max_pending:
                raise Overloaded(f"{self._pending} requests are already in flight")
            self._pending += 1
        try:
            yield
        finally:
            with self._lock:
                self._pending -= 1


@dataclass
class _Job:
    image: np.ndarray
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    request_id: str | None = None
    queued_at: float = field(default_factory=time.perf_counter)


_STOP = object()


class InferenceWorker:
    """Runs `pipeline(image) -> Prediction` on one thread, FIFO."""

    def __init__(self, pipeline: Callable[[np.ndarray], Prediction], name: str = "inference"):
        self.pipeline = pipeline
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish queued jobs, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    async def predict(self, image: np.ndarray) -> tuple[Prediction, float]:
        """The prediction and the milliseconds the job waited in the queue."""
        loop = asyncio.get_running_loop()
        job = _Job(image=image, loop=loop, future=loop.create_future(), request_id=request_id_var.get())
        self._queue.put(job)
        return await job.future

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            waited_ms = (time.perf_counter() - job.queued_at) * 1000
            try:
                outcome: object = (self.pipeline(job.image), round(waited_ms, 1))
                setter = _set_result
            except Exception as exc:
                log.exception(
                    "inference failed on one image",
                    extra={"event": "inference_error", "request_id": job.request_id},
                )
                outcome = InferenceFailed(f"{type(exc).__name__} in the face pipeline")
                setter = _set_exception
            with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits any more
                job.loop.call_soon_threadsafe(setter, job.future, outcome)


def _set_result(future: asyncio.Future, value: object) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
