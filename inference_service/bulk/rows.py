"""Photos to Parquet rows, without Ray: the one schema, the API's answer flattened, and errors as rows.

A face row is `answers.answer()` for its photo, one face at a time, so a row says exactly what
`POST /predict` says about that face. A photo without faces is one row with `faces = 0`; a file the
API would refuse is one row with the API's status and detail (`api.errors.status_of`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from ..api.errors import file_too_large, status_of
from ..video.frames import VIDEO_SUFFIXES
from ..vision.decode import DecodedImage, ImageError, decode_image
from .inputs import read_source

OK = 200

_CHECK = pa.struct([("threshold", pa.int32()), ("p_over", pa.float64()), ("verdict", pa.string())])

# The output: one row per face (or per photo without faces, or per refused file).
SCHEMA = pa.schema(
    [
        ("source", pa.string()),  # the path or URI as listed
        ("status", pa.int32()),  # 200, or the status POST /predict answers for this file
        ("error", pa.string()),  # the API's one-line detail when status is not 200
        ("faces", pa.int32()),  # faces found in the photo (0 on its one row when none)
        ("face", pa.int32()),  # this face's index in the photo's answer; null on a faceless row
        ("box", pa.list_(pa.float64(), 4)),  # x1, y1, x2, y2, clipped to the image
        ("score", pa.float64()),
        ("landmarks", pa.list_(pa.list_(pa.float64(), 2), 5)),  # eyes, nose, mouth corners as (x, y)
        ("age", pa.float64()),
        ("age_interval", pa.list_(pa.float64(), 2)),
        ("age_checks", pa.list_(_CHECK)),
        ("truncated", pa.bool_()),  # more than detector.max_faces faces: the largest were kept
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        # Videos: a track row per person (face null); with --per-frame also a row per face per sampled frame.
        ("track", pa.int32()),  # the person's track in the video (null for photos)
        ("time_s", pa.float64()),  # a per-frame row's frame time, seconds
        ("first_s", pa.float64()),  # a track row: first and last sampled frame the person is in, seconds
        ("last_s", pa.float64()),
        ("best_s", pa.float64()),  # a track row: the frame its box and landmarks come from
        ("track_frames", pa.int32()),  # a track row: sampled frames the person is in
    ]
)

VIDEO = "video"  # the `format` of a DECODED row holding a video's bytes: the actor samples its frames

# What a decoding task hands an actor: the pixels as raw bytes (no pickling, any size).
DECODED = pa.schema(
    [
        ("source", pa.string()),
        ("status", pa.int32()),
        ("error", pa.string()),
        ("pixels", pa.large_binary()),  # H x W x 3 uint8, C order; empty when status is not 200
        ("rows", pa.int32()),  # H of `pixels`
        ("cols", pa.int32()),  # W of `pixels`
        ("width", pa.int32()),  # full-resolution upright size (differs from cols when reduced)
        ("height", pa.int32()),
        ("format", pa.string()),
        ("original", pa.large_binary()),  # the file's bytes, kept only for a reduced JPEG (small faces)
    ]
)


def error_row(source: str, exc: Exception) -> dict[str, Any]:
    """The row of a file the API would refuse, with the API's status and detail."""
    status, detail, _ = status_of(exc)
    return {"source": source, "status": status, "error": detail, "faces": 0}


def read_error(exc: OSError) -> ImageError:
    """A file that cannot be read at all; the API never meets one, so it reads as an undecodable upload."""
    return ImageError(f"The file could not be read ({type(exc).__name__}).")


def photo_row(source: str, max_upload_bytes: int, max_pixels: int, min_side: int) -> dict[str, Any]:
    """One DECODED row: the file read and decoded under the service's limits, or the API's refusal."""
    try:
        data = read_source(source, max_upload_bytes)
    except OSError as exc:
        return error_row(source, read_error(exc))
    if data is None:
        return error_row(source, file_too_large(max_upload_bytes))
    if source.lower().endswith(VIDEO_SUFFIXES):  # sampled in the actor, which holds the frames' memory
        return {"source": source, "status": OK, "format": VIDEO, "original": data}
    try:
        decoded = decode_image(data, max_pixels, min_side)
    except ImageError as exc:
        return error_row(source, exc)
    pixels = decoded.pixels
    return {
        "source": source,
        "status": OK,
        "pixels": pixels.tobytes(),
        "rows": pixels.shape[0],
        "cols": pixels.shape[1],
        "width": decoded.width,
        "height": decoded.height,
        "format": decoded.format,
        "original": decoded.source if decoded.reduced else None,
    }


def decoded_image(row: dict[str, Any]) -> DecodedImage:
    """A DECODED row back into the `DecodedImage` the pipeline takes."""
    pixels = np.frombuffer(row["pixels"], dtype=np.uint8).reshape(row["rows"], row["cols"], 3)
    if row.get("original"):
        return DecodedImage(pixels, row["format"], (row["width"], row["height"]), row["original"])
    return DecodedImage(pixels, row["format"])


def answer_rows(source: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The API's answer for one photo as its rows: one per face, or one saying it has none."""
    photo = {
        "source": source,
        "status": OK,
        "faces": len(body["faces"]),
        "truncated": body["truncated"],
        "model_name": body["model"]["name"],
        "model_version": body["model"]["version"],
        "width": body["image"]["width"],
        "height": body["image"]["height"],
    }
    if not body["faces"]:
        return [photo]
    return [{**photo, **_face_columns(index, face)} for index, face in enumerate(body["faces"])]


def _face_columns(index: int, face: dict[str, Any]) -> dict[str, Any]:
    return {
        "face": index,
        "box": face["box"],
        "score": face["score"],
        "landmarks": face["landmarks"],
        "age": face["age"],
        "age_interval": face.get("age_interval"),
        "age_checks": face.get("age_checks"),
    }


def table(rows: Iterable[dict[str, Any]], schema: pa.Schema = SCHEMA) -> pa.Table:
    """Rows as a table of exactly `schema` (missing columns are null), so every block agrees."""
    rows = list(rows)
    return pa.table({name: [row.get(name) for row in rows] for name in schema.names}, schema=schema)


def video_rows(source: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """`POST /predict/video`'s answer as rows: one per track (one saying none when nobody was seen), then,
    when the answer carries them (--per-frame), one per face per sampled frame, each naming its track."""
    video = {
        "source": source,
        "status": OK,
        "faces": len(body["tracks"]),
        "truncated": False,
        "model_name": body["model"]["name"],
        "model_version": body["model"]["version"],
        "width": body["video"]["width"],
        "height": body["video"]["height"],
    }
    rows = [{**video, **_track_columns(track)} for track in body["tracks"]] or [video]
    for frame in body.get("per_frame", []):
        truncated = {"truncated": frame["truncated"], "time_s": frame["time_s"]}
        rows += [
            {**video, **truncated, **_face_columns(index, face), "track": face["track"]}
            for index, face in enumerate(frame["faces"])
        ]
    return rows


def _track_columns(track: dict[str, Any]) -> dict[str, Any]:
    return {
        "track": track["track"],
        "first_s": track["first_s"],
        "last_s": track["last_s"],
        "best_s": track["best_s"],
        "track_frames": track["frames"],
        **{key: track.get(key) for key in ("box", "score", "landmarks", "age", "age_interval", "age_checks")},
    }
