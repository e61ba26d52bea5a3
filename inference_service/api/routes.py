"""The endpoints. Each route is a few lines: parsing, limits and models live elsewhere."""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..admission import Hold, Overloaded, Ticket
from ..answers import AgeCheckRequest, answer, video_answer
from ..inference import ModelRuntime
from ..settings import Settings
from ..video.frames import sample_frames
from ..vision.decode import DecodedImage, ImageError, decode_image, decoded_bytes
from ..worker import InferenceFailed, NotReady
from .deps import DistributionDep, ReadyRuntimeDep, RuntimeDep, SettingsDep, ThresholdsDep
from .errors import ApiError, documented, error_response, file_too_large, status_of
from .schemas import BatchResponse, HealthResponse, ModelCard, PredictResponse, ReadyResponse, VideoResponse
from .uploads import UploadedFile, read_files

router = APIRouter()


def _multipart_body(field: str, many: bool, media: str = "image/*") -> dict[str, Any]:
    """The multipart request body; the batch's maxItems comes from the settings (app._openapi)."""
    binary = {"type": "string", "format": "binary", "minLength": 1}
    schema = {"type": "array", "items": binary, "minItems": 1} if many else binary
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": [field], "properties": {field: schema}},
                    "encoding": {field: {"contentType": media}},
                }
            },
        }
    }


async def _decode(
    data: bytearray, limiter: anyio.CapacityLimiter, settings: Settings, hold: Hold
) -> DecodedImage:
    """Decode on one of the `decode_threads` once the memory it takes fits under the cap (waiting up to
    `max_queue_wait_s` for it), then hold only the array's."""
    await hold.wait_for(decoded_bytes(data, settings.max_image_pixels), settings.max_queue_wait_s)
    decoded = await anyio.to_thread.run_sync(
        decode_image, data, settings.max_image_pixels, settings.decode_min_side, limiter=limiter
    )
    hold.resize(decoded.pixels.nbytes)
    return decoded


async def _predict_one(
    upload: UploadedFile,
    request: Request,
    runtime: ModelRuntime,
    ticket: Ticket,
    thresholds: list[int],
    distribution: bool = False,
) -> dict[str, Any]:
    settings: Settings = runtime.settings
    if upload.too_large:
        raise file_too_large(settings.max_upload_bytes)
    started = time.perf_counter()
    data, upload.data = upload.data, bytearray()  # the request keeps no second copy
    with ticket.holding() as hold:
        decoded = await _decode(data, request.app.state.decode_limiter, settings, hold)
        del data
        decoded_at = time.perf_counter()
        assert runtime.worker is not None
        prediction, queued_ms = await runtime.worker.predict(decoded, ticket, request.receive)
    checks = AgeCheckRequest(tuple(thresholds), settings.check_confidence, distribution)
    before = {"decode": round((decoded_at - started) * 1000, 1), "queue": queued_ms}
    body = answer(prediction, decoded.width, decoded.height, runtime.metadata, runtime.device, checks, before)
    body["timings_ms"]["total"] = round((time.perf_counter() - started) * 1000, 1)
    if request.app.state.metrics is not None:
        request.app.state.metrics.observe_prediction(body)
    return body


@router.post(
    "/predict",
    response_model=PredictResponse,
    response_model_exclude_none=True,
    summary="Find every face in one image and estimate its age",
    description=(
        "Send one image as the multipart field `file` (JPEG, PNG, WebP, BMP, TIFF or GIF; the first "
        "frame of an animation). EXIF orientation is applied; coordinates are pixels of the upright "
        "image. No face is a normal answer: `200` with `faces: []`.\n\n"
        "Age checks: add `?thresholds=18` (or `13,18,21,25`) and every face carries `age_checks`, e.g. "
        '`{"threshold": 18, "p_over": 0.973, "verdict": "over"}`: `p_over` is the calibrated probability '
        "that the person is at least that old; the verdict is `over` or `under` when that sure (the "
        "service's `check_confidence`), else `uncertain`: ask for ID.\n\n"
        "`?distribution=true` adds each face's calibrated age distribution (`age_distribution`).\n\n"
        "Example: `curl -F file=@group.jpg 'http://127.0.0.1:8000/predict?thresholds=18'`"
    ),
    responses=documented(400, 401, 408, 413, 415, 422, 500, 503),
    openapi_extra=_multipart_body("file", many=False),
)
async def predict(
    request: Request,
    runtime: ReadyRuntimeDep,
    settings: SettingsDep,
    thresholds: ThresholdsDep,
    distribution: DistributionDep,
) -> dict[str, Any]:
    with runtime.admission.admit() as ticket:
        (upload,) = await read_files(
            request, "file", 1, settings.max_upload_bytes, settings.upload_timeout_s, ticket.hold_upload
        )
        return await _predict_one(upload, request, runtime, ticket, thresholds, distribution)


@router.post(
    "/predict/batch",
    response_model=BatchResponse,
    response_model_exclude_none=True,
    summary="Several images in one request; one result per file, in order",
    description=(
        "Send up to `max_batch_files` images as repeated multipart fields `files`. A bad file gets its "
        "own entry with the status and detail `/predict` would have given; the others still succeed.\n\n"
        "Example: `curl -F files=@a.jpg -F files=@b.png http://127.0.0.1:8000/predict/batch`"
    ),
    responses=documented(400, 401, 408, 413, 422, 503),
    openapi_extra=_multipart_body("files", many=True),
)
async def predict_batch(
    request: Request, runtime: ReadyRuntimeDep, settings: SettingsDep, thresholds: ThresholdsDep
) -> dict[str, Any]:
    with runtime.admission.admit() as ticket:
        uploads = await read_files(
            request,
            "files",
            settings.max_batch_files,
            settings.max_upload_bytes,
            settings.upload_timeout_s,
            ticket.hold_upload,
        )
        results: list[dict[str, Any]] = []
        for index, upload in enumerate(uploads):
            item: dict[str, Any] = {"index": index, "filename": upload.filename}
            try:
                item["result"] = await _predict_one(upload, request, runtime, ticket, thresholds)
                item["status"] = 200
            except (ApiError, ImageError, InferenceFailed, Overloaded) as exc:  # Overloaded: memory
                item["status"], item["detail"], _ = status_of(exc)
            results.append(item)
        return {"results": results}


async def _sample(data: bytearray, limiter: anyio.CapacityLimiter, settings: Settings, hold: Hold) -> list:
    """The video's kept frames, decoded on a decode thread; then held as memory like an image's array."""
    frames = await anyio.to_thread.run_sync(
        lambda: list(sample_frames(bytes(data), settings.video)), limiter=limiter
    )
    hold.resize(sum(frame.pixels.nbytes for frame in frames))
    return frames


@router.post(
    "/predict/video",
    response_model=VideoResponse,
    response_model_exclude_none=True,
    summary="Every person's age across a short video: one entry per face track",
    description=(
        "Send one video as the multipart field `file` (MP4, MOV, WebM, MKV or AVI; up to "
        "`max_upload_bytes`, and `[service.video] max_seconds` long). Frames are sampled at "
        "`[service.video] fps` (default 2 a second, at most `max_frames`), each goes through the same "
        "detector and age model as `/predict`, faces are followed from frame to frame by box overlap, and "
        "each person's frames are combined into one age (the page's live-mode rule; docs/videos.md). "
        "Each frame is queued as its own job, so photos sent meanwhile are not held up behind the video. "
        "`?thresholds=18` adds age checks to each track.\n\n"
        "Example: `curl -F file=@clip.mp4 'http://127.0.0.1:8000/predict/video?thresholds=18'`"
    ),
    responses=documented(400, 401, 408, 413, 415, 422, 500, 503),
    openapi_extra=_multipart_body("file", many=False, media="video/*"),
)
async def predict_video(
    request: Request, runtime: ReadyRuntimeDep, settings: SettingsDep, thresholds: ThresholdsDep
) -> dict[str, Any]:
    with runtime.admission.admit() as ticket:
        (upload,) = await read_files(
            request, "file", 1, settings.max_upload_bytes, settings.upload_timeout_s, ticket.hold_upload
        )
        if upload.too_large:
            raise file_too_large(settings.max_upload_bytes)
        started = time.perf_counter()
        data, upload.data = upload.data, bytearray()
        with ticket.holding() as hold:
            frames = await _sample(data, request.app.state.decode_limiter, settings, hold)
            del data
            decoded_at = time.perf_counter()
            assert runtime.worker is not None
            predictions = [
                (frame.time_s, (await runtime.worker.predict(frame.pixels, ticket, request.receive))[0])
                for frame in frames
            ]
        height, width = frames[0].pixels.shape[:2]
    checks = AgeCheckRequest(tuple(thresholds), settings.check_confidence)
    timings = {
        "decode": round((decoded_at - started) * 1000, 1),
        "faces": round((time.perf_counter() - decoded_at) * 1000, 1),
    }
    body = video_answer(
        predictions,
        (width, height),
        checks,
        metadata=runtime.metadata,
        device=runtime.device,
        timings_ms=timings,
    )
    body["timings_ms"]["total"] = round((time.perf_counter() - started) * 1000, 1)
    return body


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (text format; no API key: for the cluster's scraper, not the public)",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, 404: documented(404)[404]},
)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    collected = request.app.state.metrics
    if collected is None:
        raise ApiError(404, "Metrics are switched off (metrics_enabled = false).")
    if runtime.ready:
        meta = runtime.metadata
        collected.describe_model(meta.name, meta.version, runtime.device, runtime.engine)
    body, content_type = collected.exposition()
    return Response(body, media_type=content_type)


@router.get("/health", response_model=HealthResponse, summary="The process is alive (always open)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=ReadyResponse,
    summary="200 once the models are loaded and warm; 503 before, and while shutting down",
    responses=documented(503),
)
async def ready(runtime: RuntimeDep, settings: SettingsDep) -> Any:
    if runtime.draining or not runtime.ready:  # the 503 of every route that needs the models (not a refusal)
        reason = (
            "The service is shutting down (it still answers the requests it gets)."
            if runtime.draining
            else f"The models are not ready yet (state: {runtime.state})."
        )
        status, detail, _ = status_of(NotReady(reason))
        return error_response(status, detail, {"Retry-After": str(settings.retry_after_s)})
    return {"status": "ready", "device": runtime.device, "load_ms": runtime.load_ms}


@router.get(
    "/model",
    response_model=ModelCard,
    summary="The model card: the checkpoint's metadata and metrics",
    responses=documented(401, 503),
)
async def model_card(runtime: ReadyRuntimeDep) -> dict[str, Any]:
    assert runtime.pipeline is not None
    return {**runtime.pipeline.estimator.describe(), "detector": runtime.pipeline.detector.describe()}
