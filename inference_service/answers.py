"""The one serializer: a `Prediction` becomes the answer every door gives.

`POST /predict`, each item of `/predict/batch`, `python -m training predict` and the bulk
annotator all call `answer()`, so boxes are clipped, ages rounded and age checks computed the
same way everywhere; the API's response models (`api/schemas.py`) describe exactly this shape.
`POST /predict/video` calls `video_answer()`, whose tracks reuse the face's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .video.tracks import Track, combine, follow
from .vision.age_checks import age_checks
from .vision.checkpoint import CheckpointMetadata
from .vision.model_config import quantile
from .vision.pipeline import FaceResult, Prediction


@dataclass(frozen=True)
class AgeCheckRequest:
    """Which ages to check (whole years, checked against the model) and how sure a verdict must be."""

    thresholds: tuple[int, ...] = ()
    confidence: float = 0.9
    # ?distribution=true: each face also carries its calibrated age distribution (the page's live
    # mode combines them over frames).
    distribution: bool = False


def _clip(value: float, high: int) -> float:
    return round(min(max(value, 0.0), float(high)), 1)


def _face(
    face: FaceResult, width: int, height: int, checks: AgeCheckRequest, meta: CheckpointMetadata
) -> dict:
    x1, y1, x2, y2 = face.box
    item: dict[str, Any] = {
        "box": [_clip(x1, width), _clip(y1, height), _clip(x2, width), _clip(y2, height)],
        "score": face.score,
        "landmarks": face.landmarks,
        "age": face.age,
    }
    if face.age_interval is not None:
        item["age_interval"] = face.age_interval
    if checks.thresholds and face.distribution is not None:
        item["age_checks"] = age_checks(
            face.distribution, list(checks.thresholds), checks.confidence, meta.model
        )
    if checks.distribution and face.distribution is not None:
        item["age_distribution"] = _distribution(face.distribution, meta)
    return item


def _distribution(probabilities: Any, meta: CheckpointMetadata) -> dict[str, Any]:
    """P(age = age_min + i), rounded to 6 decimals (the tails matter when frames are combined)."""
    return {"age_min": meta.model.age_min, "probabilities": [round(float(p), 6) for p in probabilities]}


def answer(
    prediction: Prediction,
    width: int,
    height: int,
    metadata: CheckpointMetadata,
    device: str,
    checks: AgeCheckRequest,
    timings_ms: dict[str, float],
) -> dict[str, Any]:
    """The answer for one image: faces (boxes clipped to the image), the image, model and device, and
    the timings (the caller's before and after the pipeline's own detect/align/age)."""
    return {
        "faces": [_face(face, width, height, checks, metadata) for face in prediction.faces],
        "truncated": prediction.truncated,
        "image": {"width": width, "height": height},
        "model": {"name": metadata.name, "version": metadata.version},
        "device": device,
        "timings_ms": {**timings_ms, **prediction.timings_ms},
    }


def _track(
    track: Track, times: list[float], width: int, height: int, checks: AgeCheckRequest, meta: Any
) -> dict:
    """One person of a video: when they were seen, their best frame's face, and the age of the track's
    combined distribution (video.tracks: the page's live-mode rule)."""
    best = max(range(len(track.faces)), key=lambda i: track.faces[i].score)
    face = track.faces[best]
    cfg = meta.model
    combined = combine([f.distribution for f in track.faces])
    tail = (1.0 - cfg.interval_mass) / 2
    low, high = (float(quantile(combined[None], q, cfg)[0]) for q in (tail, 1.0 - tail))
    item: dict[str, Any] = {
        "track": track.id,
        "first_s": times[track.frames[0]],
        "last_s": times[track.frames[-1]],
        "frames": len(track.frames),
        "best_s": times[track.frames[best]],
        **{
            k: v
            for k, v in _face(face, width, height, AgeCheckRequest(), meta).items()
            if k != "age_interval"
        },
        "age": round(float(combined @ np.arange(cfg.age_min, cfg.age_max + 1)), 1),
        "age_interval": [round(low, 1), round(high, 1)],
    }
    if checks.thresholds:
        item["age_checks"] = age_checks(combined, list(checks.thresholds), checks.confidence, cfg)
    return item


def video_answer(
    frames: list[tuple[float, Prediction]],
    size: tuple[int, int],
    checks: AgeCheckRequest,
    per_frame: bool = False,
    **about: Any,
) -> dict[str, Any]:
    """The answer for one video of `size` (width, height): one entry per person (track) over its sampled
    frames (time in seconds, prediction), in `_track`'s shape, which is also the bulk annotator's row of a
    track. `per_frame` adds each sampled frame's faces, as `answer` gives them, each naming its track (the
    bulk annotator's --per-frame). `about`: metadata, device and timings_ms, as `answer` takes them."""
    metadata, (width, height) = about["metadata"], size
    times = [time_s for time_s, _ in frames]
    tracks = follow([prediction.faces for _, prediction in frames])
    body = {
        "tracks": [_track(t, times, width, height, checks, metadata) for t in tracks],
        "frames": len(frames),
        "video": {"width": width, "height": height, "sampled_to_s": times[-1] if times else 0.0},
        "model": {"name": metadata.name, "version": metadata.version},
        "device": about["device"],
        "timings_ms": about["timings_ms"],
    }
    if per_frame:
        owner = {id(face): track.id for track in tracks for face in track.faces}
        body["per_frame"] = [
            {
                "time_s": time_s,
                "truncated": prediction.truncated,
                "faces": [
                    {**_face(face, width, height, checks, metadata), "track": owner[id(face)]}
                    for face in prediction.faces
                ],
            }
            for time_s, prediction in frames
        ]
    return body
