"""Response models: what clients get back, with examples for /docs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_EXAMPLE_FACE = {
    "box": [212.4, 96.1, 318.9, 238.7],
    "score": 0.9991,
    "landmarks": [[240.2, 152.3], [289.5, 150.8], [265.0, 180.4], [245.1, 206.7], [285.6, 205.2]],
    "age": 34.2,
    "age_interval": [27.3, 42.1],
    "age_checks": [{"threshold": 18, "p_over": 0.998, "verdict": "over"}],
}
_EXAMPLE_PREDICTION = {
    "faces": [_EXAMPLE_FACE],
    "truncated": False,
    "image": {"width": 640, "height": 480},
    "model": {"name": "age-ensemble-utkface", "version": "0.8.0-ensemble"},
    "device": "cpu",
    "timings_ms": {"decode": 6.1, "queue": 0.1, "detect": 31.5, "align": 1.2, "age": 51.1, "total": 91.2},
}


class AgeCheck(BaseModel):
    threshold: int = Field(description="the age asked about, in whole years")
    p_over: float = Field(
        ge=0, le=1, description="calibrated probability that the true age is at least threshold"
    )
    verdict: Literal["over", "under", "uncertain"] = Field(
        description="over / under when p_over (or 1 - p_over) reaches check_confidence; else uncertain"
    )


class AgeDistribution(BaseModel):
    age_min: int = Field(description="the age of probabilities[0]")
    probabilities: list[float] = Field(
        description="P(age = age_min + i), temperature-calibrated; sums to 1 up to rounding"
    )


class Face(BaseModel):
    box: tuple[float, float, float, float] = Field(
        description="x1, y1, x2, y2 in pixels of the upright image"
    )
    score: float = Field(ge=0, le=1, description="detector confidence")
    landmarks: list[tuple[float, float]] = Field(
        min_length=5,
        max_length=5,
        description="right eye, left eye, nose tip, right and left mouth corner, as [x, y]",
    )
    age: float = Field(description="estimated age in years")
    age_interval: tuple[float, float] | None = Field(
        default=None, description="[low, high] holding the model's central probability mass (bins head only)"
    )
    age_checks: list[AgeCheck] | None = Field(
        default=None, description="one entry per requested threshold, in threshold order (when asked for)"
    )
    age_distribution: AgeDistribution | None = Field(
        default=None, description="the calibrated age distribution (with ?distribution=true)"
    )


class ImageSize(BaseModel):
    width: int
    height: int


class ModelRef(BaseModel):
    name: str
    version: str


class PredictResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": _EXAMPLE_PREDICTION})

    faces: list[Face]
    truncated: bool = Field(
        description="true when more faces were found than max_faces; the largest are kept"
    )
    image: ImageSize
    model: ModelRef
    device: str
    timings_ms: dict[str, float]


class BatchItem(BaseModel):
    index: int = Field(description="position of the file in the request")
    filename: str | None = None
    status: int = Field(description="the status this file would have had on /predict")
    detail: str | None = Field(default=None, description="why the file failed (absent on success)")
    result: PredictResponse | None = Field(default=None, description="the prediction (absent on failure)")


class BatchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "results": [
                    {"index": 0, "filename": "group.jpg", "status": 200, "result": _EXAMPLE_PREDICTION},
                    {
                        "index": 1,
                        "filename": "notes.txt",
                        "status": 415,
                        "detail": "The upload is not an image Pillow can identify.",
                    },
                ]
            }
        }
    )

    results: list[BatchItem]


class Track(BaseModel):
    track: int = Field(description="the person's number in this video, from 1 in order of appearance")
    first_s: float = Field(description="time of the first sampled frame the person is in, seconds")
    last_s: float = Field(description="time of the last sampled frame the person is in, seconds")
    frames: int = Field(description="sampled frames the person is in")
    best_s: float = Field(description="time of the frame whose face the detector was surest of")
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in that frame, pixels")
    score: float = Field(ge=0, le=1, description="detector confidence in that frame")
    landmarks: list[tuple[float, float]] = Field(min_length=5, max_length=5, description="in that frame")
    age: float = Field(description="the age of the track's combined distribution, years")
    age_interval: tuple[float, float] = Field(description="its central interval (the model's mass)")
    age_checks: list[AgeCheck] | None = Field(default=None, description="per requested threshold, when asked")


class VideoInfo(BaseModel):
    width: int
    height: int
    sampled_to_s: float = Field(description="time of the last sampled frame, seconds")


class VideoResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "tracks": [
                    {
                        "track": 1,
                        "first_s": 0.0,
                        "last_s": 4.5,
                        "frames": 10,
                        "best_s": 2.0,
                        "box": [210.4, 96.2, 318.9, 236.0],
                        "score": 0.9991,
                        "landmarks": [
                            [240.1, 152.3],
                            [288.0, 151.7],
                            [264.2, 178.9],
                            [243.5, 205.1],
                            [284.9, 204.6],
                        ],
                        "age": 33.4,
                        "age_interval": [28.6, 38.9],
                        "age_checks": [{"threshold": 18, "p_over": 0.998, "verdict": "over"}],
                    }
                ],
                "frames": 10,
                "video": {"width": 640, "height": 360, "sampled_to_s": 4.5},
                "model": {"name": "age-ensemble-utkface", "version": "0.8.0-ensemble"},
                "device": "cpu",
                "timings_ms": {"decode": 48.2, "faces": 812.5, "total": 866.0},
            }
        }
    )

    tracks: list[Track] = Field(description="one entry per person, by track number")
    frames: int = Field(description="frames sampled (service.cfg [service.video] fps, max_frames)")
    video: VideoInfo
    model: ModelRef
    device: str
    timings_ms: dict[str, float]


class ErrorResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"detail": "The upload is empty."}})

    detail: str


class HealthResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"status": "ok"}})

    status: str


class ReadyResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"status": "ready", "device": "cpu", "load_ms": 2150.4}}
    )

    status: str
    device: str
    load_ms: float


class ModelCard(BaseModel):
    """The model's metadata (a checkpoint's, or an ensemble file's with its members) and how it runs here."""

    model_config = ConfigDict(
        extra="allow",
        protected_namespaces=(),
        json_schema_extra={
            "example": {
                "name": "age-ensemble-utkface",
                "version": "0.8.0-ensemble",
                "format": "age-ensemble/1",
                "model": {
                    "input_size": 160,
                    "age_min": 0,
                    "age_max": 100,
                    "interval_mass": 0.8,
                    "temperature": 0.9255,
                    "rule": "product",
                },
                "metrics": {"val_mae": 4.402, "test": {"n": 2075, "mae": 4.472, "cs5": 0.679}},
                "data": {},
                "training_config": {},
                "code_version": "836c765",
                "created": "2026-12-06T10:50:32+00:00",
                "members": [
                    {"name": "resnet50-age-utkface", "version": "0.7.0-cpu-112px", "weight": 0.25},
                    {
                        "name": "mobilenet_v2-age-utkface",
                        "version": "1.0.0-member-128px-seed1",
                        "weight": 0.3,
                    },
                    {
                        "name": "mobilenet_v2-age-utkface",
                        "version": "1.0.0-member-160px-seed2",
                        "weight": 0.45,
                    },
                ],
                "device": "cpu",
                "engine": "openvino-int8",
                "detector": {
                    "name": "retinaface-mobilenet0.25",
                    "score_threshold": 0.9,
                    "nms_threshold": 0.4,
                    "max_side": 1024,
                    "min_face": 0.0,
                    "small_face": 24.0,
                    "runtime": "onnxruntime",
                    "threads": 0,
                    "max_faces": 100,
                },
            }
        },
    )

    name: str
    version: str
    format: str
    model: dict[str, Any]
    metrics: dict[str, Any]
    data: dict[str, Any]
    training_config: dict[str, Any]
    code_version: str
    created: str
    device: str
    engine: str = Field(
        description="How the age network runs here: openvino-bf16, torch-bf16, onnx, torch, ...; an ensemble "
        "whose members run on different engines joins their names with '+'"
    )
    members: list[dict[str, Any]] | None = Field(
        None,
        description="An ensemble's member networks (name, version, weight, sha256, model, metrics, engine); "
        "absent for a single checkpoint",
    )
    detector: dict[str, Any]
