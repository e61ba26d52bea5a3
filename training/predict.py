"""Ages for every face in ordinary photos, through the very pipeline and serializer the service runs.

Each photo's record is the service's `/predict` answer (`inference_service.answers.answer`) plus
its file name, or the file name and why it could not be read, so the CLI and the API cannot drift.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inference_service.answers import AgeCheckRequest, answer
from inference_service.inference import pipeline_from_settings
from inference_service.settings import Settings
from inference_service.vision.age_checks import check_thresholds
from inference_service.vision.decode import IMAGE_SUFFIXES, ImageError, decode_image

CSV_COLUMNS = ("file", "face", "x1", "y1", "x2", "y2", "score", "age", "age_low", "age_high")


def expand_paths(paths: list[str]) -> Iterator[Path]:
    """Files as given, folders as their image files (sorted, not recursive)."""
    for item in paths:
        path = Path(item)
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")


def predict_photos(settings: Settings, paths: list[str], thresholds: list[int] | None = None) -> list[dict]:
    """One record per photo: the service's answer for it, or the reason it could not be read.

    `thresholds` are the age checks (None: the settings' `age_thresholds`, as the API does).
    """
    pipeline = pipeline_from_settings(settings)
    chosen = settings.age_thresholds if thresholds is None else thresholds
    checks = AgeCheckRequest(
        tuple(check_thresholds(chosen, pipeline.metadata.model)), settings.check_confidence
    )
    device = str(pipeline.estimator.device)
    records = []
    for path in expand_paths(paths):
        started = time.perf_counter()
        try:
            decoded = decode_image(path.read_bytes(), settings.max_image_pixels, settings.decode_min_side)
        except (ImageError, OSError) as exc:
            records.append({"file": str(path), "error": str(exc)})
            continue
        before = {"decode": round((time.perf_counter() - started) * 1000, 1)}
        body = answer(
            pipeline(decoded), decoded.width, decoded.height, pipeline.metadata, device, checks, before
        )
        records.append({"file": str(path), **body})
    return records


def to_json(records: list[dict]) -> str:
    return json.dumps(records, indent=1)


def _check_columns(records: list[dict]) -> list[int]:
    faces = (face for record in records for face in record.get("faces", []))
    return sorted({check["threshold"] for face in faces for check in face.get("age_checks", [])})


def _face_row(record: dict, index: int, face: dict[str, Any], thresholds: list[int]) -> list[Any]:
    low, high = face.get("age_interval") or ("", "")
    checks = {check["threshold"]: check for check in face.get("age_checks", [])}
    verdicts = [value for t in thresholds for value in (checks[t]["p_over"], checks[t]["verdict"])]
    return [record["file"], index, *face["box"], face["score"], face["age"], low, high, *verdicts, ""]


def to_csv(records: list[dict]) -> str:
    """One row per face (age checks as p_over_T, verdict_T column pairs); a photo without faces, or
    unreadable, gets one row with empty face fields and the error, if any."""
    thresholds = _check_columns(records)
    check_columns = [name for t in thresholds for name in (f"p_over_{t}", f"verdict_{t}")]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*CSV_COLUMNS, *check_columns, "error"])
    empty = [""] * (len(CSV_COLUMNS) - 1 + len(check_columns))
    for record in records:
        if not record.get("faces"):
            writer.writerow([record["file"], *empty, record.get("error", "")])
        for index, face in enumerate(record.get("faces", [])):
            writer.writerow(_face_row(record, index, face, thresholds))
    return buffer.getvalue()
