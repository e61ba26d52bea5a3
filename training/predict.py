"""Ages for every face in ordinary photos, through the very pipeline the service runs."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from inference_service.vision.decode import ImageError, read_image_file
from inference_service.vision.pipeline import PipelineOptions, build_pipeline

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
CSV_COLUMNS = ("file", "face", "x1", "y1", "x2", "y2", "score", "age", "age_low", "age_high", "error")


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


def predict_photos(options: PipelineOptions, paths: list[str]) -> list[dict]:
    """One record per photo: its faces (box, score, age, interval) or the reason it could not be read."""
    pipeline = build_pipeline(options)
    records = []
    for path in expand_paths(paths):
        try:
            image = read_image_file(str(path))
        except (ImageError, OSError) as exc:
            records.append({"file": str(path), "faces": [], "error": str(exc)})
            continue
        result = pipeline(image)
        records.append(
            {
                "file": str(path),
                "faces": [
                    {"box": f.box, "score": f.score, "age": f.age, "age_interval": f.age_interval}
                    for f in result.faces
                ],
                "truncated": result.truncated,
            }
        )
    return records


def to_json(records: list[dict]) -> str:
    return json.dumps(records, indent=1)


def to_csv(records: list[dict]) -> str:
    """One row per face; a photo without faces (or unreadable) gets one row with empty face fields."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        if not record["faces"]:
            writer.writerow([record["file"], "", "", "", "", "", "", "", "", "", record.get("error", "")])
        for i, face in enumerate(record["faces"]):
            low, high = face["age_interval"] or ("", "")
            writer.writerow([record["file"], i, *face["box"], face["score"], face["age"], low, high, ""])
    return buffer.getvalue()
