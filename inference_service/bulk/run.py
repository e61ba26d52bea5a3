"""The Ray Data run: list sources → decode in Ray tasks → the service's pipeline in actors → Parquet.

Each actor builds the pipeline once, through the service's own factory and settings, and gets
several decoded photos per call, whose faces go through the age model together. Decoding runs in
plain Ray tasks, so the actors only run the networks. The driver streams the actors' rows into
bounded Parquet parts as they come (`parts.PartWriter`) and writes nothing but OUT; object
spilling is off on a local cluster, so decoded photos stay in memory, never on disk.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import pyarrow as pa
import ray

from ..answers import AgeCheckRequest, answer, video_answer
from ..inference import pipeline_from_settings, warm_up
from ..settings import Settings
from ..video.frames import sample_frames
from ..vision.age_checks import check_thresholds
from ..vision.decode import ImageError
from ..vision.ensemble import read_model_metadata
from ..vision.pipeline import Prediction
from ..worker import InferenceFailed
from .inputs import list_sources
from .parts import PartWriter, TornOutput, done_sources, out_has_parquet
from .rows import (
    DECODED,
    OK,
    SCHEMA,
    VIDEO,
    answer_rows,
    decoded_image,
    error_row,
    photo_row,
    table,
    video_rows,
)

log = logging.getLogger(__name__)

NO_SPILLING = {"automatic_object_spilling_enabled": False}  # decoded photos never go to disk
EXTRA_WORKERS = 4  # worker processes kept beside the actors (decoding, writing)
CLIENT_ATTEMPTS, CLIENT_FIRST_WAIT_S = 5, 1.0  # Ray Client connections tried, and the first wait


class BulkError(RuntimeError):
    """The run cannot start as asked (OUT not empty, too few CPUs, bad thresholds...)."""


@dataclass(frozen=True)
class RunSummary:
    listed: int  # sources found in INPUT
    skipped: int  # already in OUT (--resume)
    annotated: int  # sources this run wrote rows for
    seconds: float
    parts: int = 0  # Parquet files this run wrote

    @property
    def on_disk(self) -> int:
        return self.skipped + self.annotated


def actor_settings(settings: Settings) -> Settings:
    """The settings with each model's unset thread count (0) pinned to the actor's share of CPUs."""
    threads = settings.bulk.actor_threads()
    age, detector = settings.age_model, settings.detector
    return settings.model_copy(
        update={
            "age_model": age.model_copy(
                update={"threads": age.threads or threads, "torch_threads": age.torch_threads or threads}
            ),
            "detector": detector.model_copy(update={"threads": detector.threads or threads}),
        }
    )


def decode_batch(batch: pa.Table, max_upload_bytes: int, max_pixels: int, min_side: int) -> pa.Table:
    """A Ray task: read and decode each source under the service's limits (refusals become rows)."""
    sources = batch.column("source").to_pylist()
    return table((photo_row(s, max_upload_bytes, max_pixels, min_side) for s in sources), DECODED)


def no_openvino_telemetry() -> None:
    """Keep `import openvino` from loading openvino-telemetry, which forks the actor to post a usage
    event and writes ~/intel/: the run writes nothing but OUT. OpenVINO falls back to its own stub."""
    sys.modules.setdefault("openvino_telemetry", None)


class Annotator:
    """A Ray actor holding the service's pipeline: decoded photos in, Parquet rows out."""

    def __init__(self, settings: Settings, thresholds: tuple[int, ...], per_frame: bool = False):
        no_openvino_telemetry()
        self.pipeline = pipeline_from_settings(actor_settings(settings))
        warm_up(self.pipeline)
        self.checks = AgeCheckRequest(thresholds, settings.check_confidence)
        self.device = str(self.pipeline.estimator.device)
        self.video, self.per_frame = settings.video, per_frame

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        readable = [row for row in rows if row["status"] == OK and row["format"] != VIDEO]
        predictions = iter(self._predict(readable))
        out: list[dict[str, Any]] = []
        for row in rows:
            if row["status"] != OK:  # refused or unreadable in the decoding task
                out.append(
                    {"source": row["source"], "status": row["status"], "error": row["error"], "faces": 0}
                )
                continue
            if row["format"] == VIDEO:
                out.extend(self._video(row["source"], row["original"]))
                continue
            result = next(predictions)
            out.extend(
                [error_row(row["source"], result)]
                if isinstance(result, Exception)
                else self._rows(row, result)
            )
        return table(out)

    def _rows(self, row: dict[str, Any], prediction: Prediction) -> list[dict[str, Any]]:
        meta = self.pipeline.metadata
        body = answer(prediction, row["width"], row["height"], meta, self.device, self.checks, {})
        return answer_rows(row["source"], body)

    def _video(self, source: str, data: bytes) -> list[dict[str, Any]]:
        """A video's rows: its frames sampled here, their faces aged in shared batches, one row per track."""
        try:
            frames = list(sample_frames(data, self.video))
            predictions = self.pipeline.predict_many([frame.pixels for frame in frames])
        except ImageError as exc:
            return [error_row(source, exc)]
        except Exception as exc:
            log.error("inference failed on one video: %s", type(exc).__name__)
            return [error_row(source, InferenceFailed(type(exc).__name__))]
        height, width = frames[0].pixels.shape[:2]
        body = video_answer(
            [(frame.time_s, prediction) for frame, prediction in zip(frames, predictions, strict=True)],
            (width, height),
            self.checks,
            per_frame=self.per_frame,
            metadata=self.pipeline.metadata,
            device=self.device,
            timings_ms={},
        )
        return video_rows(source, body)

    def _predict(self, rows: list[dict[str, Any]]) -> list[Prediction | Exception]:
        """All photos' faces in shared age batches; if that fails, photo by photo, so one bad photo
        costs only its own row."""
        images = [decoded_image(row) for row in rows]
        try:
            return list(self.pipeline.predict_many(images))
        except Exception:
            log.exception("a batch of %d photos failed; retrying them one by one", len(images))
        results: list[Prediction | Exception] = []
        for image in images:
            try:
                results.append(self.pipeline(image))
            except Exception as exc:
                log.error("inference failed on one photo: %s", type(exc).__name__)
                results.append(InferenceFailed(type(exc).__name__))
        return results


def connect(address: str | None, actors: int) -> bool:
    """Join the cluster at `address` (`auto`, `HOST:PORT`, `ray://HOST:PORT`) or $RAY_ADDRESS (set by
    `ray job submit`), else start one in-process. True when connected through Ray Client (`ray://`)."""
    address = address or os.environ.get("RAY_ADDRESS")
    client = bool(address and address.startswith("ray://"))
    if client and importlib.util.find_spec("grpc") is None:
        raise BulkError(
            f"{address} is a Ray Client address, which needs pip install 'ray[client]=={ray.__version__}'"
        )
    if client:
        _client_init(address)
    elif address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, _system_config=local_system_config(actors))
    return client


def _client_init(address: str) -> None:
    """Connect through Ray Client, again after a short wait when the head's proxy aborts the connection:
    it answers ConnectionAbortedError while the per-client server it starts is not up yet, a race on
    a loaded head. CLIENT_ATTEMPTS tries, each wait twice the last."""
    for attempt in range(1, CLIENT_ATTEMPTS + 1):
        try:
            ray.init(address=address, log_to_driver=False)
            return
        except ConnectionAbortedError as exc:
            ray.shutdown()
            if attempt == CLIENT_ATTEMPTS:
                raise BulkError(f"Ray Client at {address} refused {attempt} connections: {exc}") from None
            wait = CLIENT_FIRST_WAIT_S * 2 ** (attempt - 1)
            first_line = str(exc).strip().splitlines()[-1][:200]
            log.warning(
                "Ray Client at %s aborted the connection (%s); try %d of %d in %.1f s",
                address,
                first_line,
                attempt + 1,
                CLIENT_ATTEMPTS,
                wait,
            )
            time.sleep(wait)


def local_system_config(actors: int) -> dict[str, Any]:
    """No object spilling (decoded photos never go to disk), and room for a decoding and a writing
    worker beside the actors: past its soft limit (one worker per CPU) Ray kills idle workers, and each
    decoding task would then pay a fresh worker's start-up."""
    return {**NO_SPILLING, "num_workers_soft_limit": max(os.cpu_count() or 1, actors) + EXTRA_WORKERS}


def check_cpus(settings: Settings, actors: int) -> None:
    """Refuse a pool the cluster cannot hold at once: Ray would otherwise wait for a CPU forever."""
    have = float(ray.cluster_resources().get("CPU", 0.0))
    need = settings.bulk.cpus_needed(actors)
    if need > have + 1e-9:
        raise BulkError(
            f"{actors} actors x {settings.bulk.actor_cpus:g} CPUs + {settings.bulk.decode_cpus:g} for "
            f"decoding need {need:g} CPUs; the cluster has {have:g}. "
            "Lower --actors or bulk.actor_cpus."
        )


def _thresholds(settings: Settings, thresholds: list[int] | None) -> tuple[int, ...]:
    """The age checks (None: the settings' default, as the API does), refused before Ray starts."""
    chosen = settings.age_thresholds if thresholds is None else thresholds
    model = read_model_metadata(settings.age_model.path).model  # a checkpoint or an ensemble file
    try:
        return tuple(check_thresholds(sorted(set(chosen)), model))
    except ValueError as exc:
        raise BulkError(str(exc)) from None


def plan(inputs: list[str], out: str, resume: bool) -> tuple[list[str], int]:
    """The sources still to annotate, and how many OUT already holds."""
    sources = list_sources(inputs)
    if not resume and out_has_parquet(out):
        raise BulkError(
            f"{out} already holds Parquet files: add --resume to continue, or choose another folder"
        )
    try:
        done = done_sources(out) if resume else set()
    except TornOutput as exc:
        raise BulkError(str(exc)) from None
    todo = [source for source in sources if source not in done]
    return todo, len(sources) - len(todo)


def _task_resources(cpus: float) -> dict[str, float]:
    return {"num_cpus": cpus}


def actor_pool(actors: int, calls: int) -> Any:
    """`actors` actors, each running `calls` batches at once in threads: while one batch is in the
    detector, another's faces are in the age network, so one stage waiting on the other leaves no
    CPU idle. The networks release the GIL; the OpenVINO engines take one call at a time."""
    return ray.data.ActorPoolStrategy(
        size=actors, max_concurrent_calls_per_actor=calls, enable_true_multi_threading=calls > 1
    )


def build_dataset(
    settings: Settings, sources: list[str], thresholds: tuple[int, ...], actors: int, per_frame: bool = False
) -> Any:
    """The lazy Ray Data pipeline; nothing runs until it is written."""
    bulk = settings.bulk
    blocks = max(1, math.ceil(len(sources) / bulk.batch_photos))
    limits = {
        "max_upload_bytes": settings.max_upload_bytes,
        "max_pixels": settings.max_image_pixels,
        "min_side": settings.decode_min_side,
    }
    return (
        ray.data.from_items([{"source": s} for s in sources], override_num_blocks=blocks)
        .map_batches(
            decode_batch,
            fn_kwargs=limits,
            batch_format="pyarrow",
            # Given as a function, the resources keep Ray Data from fusing decoding into the actors
            # (it fuses operators whose resources are equal): decoding stays in tasks of its own.
            ray_remote_args_fn=partial(_task_resources, bulk.decode_cpus),
        )
        .map_batches(
            Annotator,
            fn_constructor_kwargs={"settings": settings, "thresholds": thresholds, "per_frame": per_frame},
            compute=actor_pool(actors, bulk.calls_per_actor),
            num_cpus=bulk.actor_cpus,
            batch_size=bulk.batch_photos,
            batch_format="pyarrow",
        )
    )


def write(
    settings: Settings,
    sources: list[str],
    checks: tuple[int, ...],
    actors: int,
    out: str,
    progress: bool,
    per_frame: bool = False,
) -> tuple[int, int]:
    """Run the pipeline into Parquet parts under `out`, from a driver or from a task on the cluster;
    (sources written, parts written). A failure leaves the parts written so far, each whole."""
    ray.data.DataContext.get_current().enable_progress_bars = progress
    bulk = settings.bulk
    writer = PartWriter(out, bulk.file_sources, bulk.file_seconds, SCHEMA)
    try:
        dataset = build_dataset(settings, sources, checks, actors, per_frame)
        for block in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            writer.add(block)
        writer.flush()
    finally:
        log.info(
            "%d of %d sources written to %s in %d parts",
            writer.sources_written,
            len(sources),
            out,
            writer.parts,
        )
    return writer.sources_written, writer.parts


def annotate(
    settings: Settings,
    inputs: list[str],
    out: str,
    *,
    thresholds: list[int] | None = None,
    address: str | None = None,
    actors: int | None = None,
    resume: bool = False,
    progress: bool = True,
    per_frame: bool = False,
) -> RunSummary:
    """Annotate every source in `inputs` into Parquet files under `out`; see docs/bulk-annotation.md."""
    started = time.perf_counter()
    checks = _thresholds(settings, thresholds)
    todo, skipped = plan(inputs, out, resume)
    parts = 0
    if todo:
        pool = actors or settings.bulk.actors
        client = connect(address, pool)
        try:
            check_cpus(settings, pool)
            job = (settings, todo, checks, pool, out, progress, per_frame)
            if client:  # Ray Data cannot drive from a Ray Client: a task on the cluster does, using no CPU
                _, parts = ray.get(ray.remote(num_cpus=0)(write).remote(*job))
            else:
                _, parts = write(*job)
        except Exception:
            log.error("the run stopped; the parts written are in %s: run again with --resume to finish", out)
            raise
        finally:
            ray.shutdown()
    seconds = round(time.perf_counter() - started, 1)
    listed = len(todo) + skipped
    return RunSummary(listed=listed, skipped=skipped, annotated=len(todo), seconds=seconds, parts=parts)
