"""Loading, warming and holding the models, so the API only sees a ready pipeline.

Loading runs on a background thread: the server answers `/health` and
`/ready` (503) at once, and `/ready` turns 200 only after a warm-up pass has run
through both networks. A loading failure is fatal: it is logged with its reason
and the process is asked to exit with a non-zero status.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .admission import Admission, work_units
from .settings import Settings
from .vision.age_checks import check_thresholds
from .vision.checkpoint import CheckpointMetadata
from .vision.pipeline import FacePipeline, build_pipeline
from .worker import InferenceWorker

log = logging.getLogger(__name__)

PipelineFactory = Callable[[Settings], FacePipeline]


def pipeline_from_settings(settings: Settings) -> FacePipeline:
    """The detector and the age model, from the settings' sections as they are."""
    return build_pipeline(settings.device, settings.detector, settings.age_model)


WARM_UP_SHAPE = (480, 640)


def warm_up(pipeline: FacePipeline) -> float:
    """Two passes through each network: the first so no request pays the start-up cost, the second timed
    (seconds) so admission starts from a measured cost, not a guess."""
    image = np.full((*WARM_UP_SHAPE, 3), 127, dtype=np.uint8)
    size = pipeline.estimator.model_config.input_size
    crops = np.zeros((2, size, size, 3), dtype=np.uint8)
    for _ in range(2):
        started = time.perf_counter()
        pipeline.detector.detect(image)
        pipeline.estimator.predict_crops(crops)
    return time.perf_counter() - started


@dataclass
class ModelRuntime:
    """What the routes need: the worker, the door in front of it, and the state of loading."""

    settings: Settings
    admission: Admission
    factory: PipelineFactory = pipeline_from_settings
    on_fatal: Callable[[str], None] = lambda reason: None
    state: str = "loading"  # loading | ready | failed
    error: str | None = None
    pipeline: FacePipeline | None = None
    worker: InferenceWorker | None = None
    device: str = "unknown"
    load_ms: float = 0.0
    draining: bool = False  # SIGTERM came: still serving, but /ready says 503 so traffic goes elsewhere
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def engine(self) -> str:
        """How the age network runs (openvino-bf16, onnx, torch, ...)."""
        return self.pipeline.estimator.engine if self.pipeline is not None else "unknown"

    @property
    def metadata(self) -> CheckpointMetadata:
        assert self.pipeline is not None
        return self.pipeline.metadata

    def start_loading(self) -> None:
        self._thread = threading.Thread(target=self._load, name="model-loader", daemon=True)
        self._thread.start()

    def wait_loaded(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            pipeline = self.factory(self.settings)
            check_thresholds(self.settings.age_thresholds, pipeline.metadata.model)  # refuse at start-up
            warm_seconds = warm_up(pipeline)
        except Exception as exc:
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            log.error("startup failed: %s", self.error, extra={"event": "startup_failed"})
            self.on_fatal(self.error)
            return
        self.pipeline, self.device = pipeline, str(pipeline.estimator.device)
        units = work_units(*WARM_UP_SHAPE, self.settings.detector.max_side)
        self.admission.seed(warm_seconds, units)
        self.worker = InferenceWorker(pipeline, self.admission)
        self.worker.start()
        self.load_ms = round((time.perf_counter() - started) * 1000, 1)
        self.state = "ready"
        meta = pipeline.metadata
        log.info(
            "models loaded and warm on %s (device setting %r)",
            self.device,
            self.settings.device,
            extra={"event": "ready", "device": self.device, "model": meta.name, "version": meta.version},
        )

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop(self.settings.shutdown_timeout_s)

    def describe(self) -> dict[str, Any]:
        return {"state": self.state, "device": self.device, "load_ms": self.load_ms}
