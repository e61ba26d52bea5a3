"""One inference thread behind the door (`admission.py`).

`InferenceWorker` owns the models: every image goes through one dedicated thread
in arrival order, so torch and onnxruntime never compete with themselves for the
cores. It tells the `Admission` ledger when a job starts and how long it took (the
measured cost per unit of work), and skips a job whose client went away while it
waited. Its interface is deliberately small (`start`, `predict`, `stop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .admission import Admission, ClientGone, Ticket, Work
from .logging_setup import request_id_var
from .vision.pipeline import Prediction

log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """The models are still loading (or failed to load)."""


class InferenceFailed(RuntimeError):
    """The detector or the age model raised on one image."""


@dataclass
class _Job:
    image: Any  # what the pipeline takes: an array or a DecodedImage
    work: Work
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    request_id: str | None = None
    queued_at: float = field(default_factory=time.perf_counter)


_STOP = object()
Receive = Callable[[], Awaitable[dict[str, Any]]]


class InferenceWorker:
    """Runs `pipeline(image) -> Prediction` on one thread, FIFO, keeping `admission`'s ledger."""

    def __init__(self, pipeline: Callable[[Any], Prediction], admission: Admission, name: str = "inference"):
        self.pipeline = pipeline
        self.admission = admission
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish queued jobs, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    async def predict(
        self, image: Any, ticket: Ticket, receive: Receive | None = None
    ) -> tuple[Prediction, float]:
        """The prediction and the milliseconds the job waited in the queue.

        With the request's ASGI `receive`, a client that disconnects while the job waits gets it
        dropped (`ClientGone`); once the job runs it finishes, and the answer goes nowhere.
        """
        pixels: np.ndarray = getattr(image, "pixels", image)
        loop = asyncio.get_running_loop()
        job = _Job(image, ticket.enqueue(*pixels.shape[:2]), loop, loop.create_future(), request_id_var.get())
        self._queue.put(job)
        if receive is None:
            return await job.future
        watcher = asyncio.ensure_future(_until_disconnect(receive))
        try:
            done, _ = await asyncio.wait({job.future, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if job.future not in done and self.admission.drop(job.work):
                raise ClientGone("the client went away before its image was computed")
            return await job.future
        finally:
            watcher.cancel()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            if self.admission.start(job.work):
                self._compute(job)

    def _compute(self, job: _Job) -> None:
        started = time.perf_counter()
        waited_ms = (started - job.queued_at) * 1000
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
        self.admission.finish(job.work, time.perf_counter() - started)
        with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits any more
            job.loop.call_soon_threadsafe(setter, job.future, outcome)


async def _until_disconnect(receive: Receive) -> None:
    """Returns when the client has gone; the body has been read, so nothing else arrives first."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _set_result(future: asyncio.Future, value: object) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
