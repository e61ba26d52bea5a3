"""Labelled photos to a compact prepared set: aligned crops, an index CSV and a split.

Every photo goes through the service's own detector and `align_face`, so the
network trains on exactly the crops it will see when serving.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inference_service.vision.align import UTKFACE_TEMPLATE, align_face
from inference_service.vision.decode import ImageError, read_image_file
from inference_service.vision.detector import Detection, RetinaFaceDetector
from inference_service.vision.pipeline import build_detector

from .sources import Sample

INDEX = "index.csv"
COLUMNS = ("file", "age", "source", "original", "split")


@dataclass(frozen=True)
class PrepareOptions:
    size: int = 160
    score_threshold: float = 0.5
    jpeg_quality: int = 95
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    workers: int = 2
    template: tuple = UTKFACE_TEMPLATE


_detector: RetinaFaceDetector | None = None


def _init_worker(score_threshold: float) -> None:
    global _detector
    cv2.setNumThreads(1)
    _detector = labelled_photo_detector(score_threshold, threads=1)


def labelled_photo_detector(score_threshold: float, threads: int = 0) -> RetinaFaceDetector:
    """The service's detector (its settings), at the lower threshold labelled datasets need."""
    from inference_service.settings import Settings

    settings = Settings.load(detector={"score_threshold": score_threshold, "threads": threads})
    return build_detector(settings.detector)


def pick_face(detections: list[Detection], width: int, height: int) -> Detection | None:
    """The labelled person: the largest face, ties broken by closeness to the centre."""
    if not detections:
        return None
    centre = np.array([width / 2, height / 2])

    def rank(d: Detection) -> tuple[float, float]:
        middle = (d.box[:2] + d.box[2:]) / 2
        return (-d.area, float(np.linalg.norm(middle - centre)))

    return min(detections, key=rank)


def _process(job: tuple[str, int, tuple, int]) -> tuple[str, str | None, bytes | None]:
    """(content hash, failure reason or None, encoded crop or None) for one photo."""
    path, size, template, quality = job
    try:
        digest = hashlib.sha1(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        return f"missing:{path}", f"unreadable: {exc}", None
    try:
        image = read_image_file(path)
    except (ImageError, OSError) as exc:
        return digest, f"unreadable: {exc}", None
    assert _detector is not None
    face = pick_face(_detector.detect(image), image.shape[1], image.shape[0])
    if face is None:
        return digest, "no face found", None
    crop = align_face(image, face.landmarks, template, size)
    ok, encoded = cv2.imencode(".jpg", crop[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return digest, None if ok else "encode failed", encoded.tobytes() if ok else None


def stratified_split(ages: list[float], val: float, test: float, seed: int) -> list[str]:
    """Split so that every age keeps the same train/val/test proportions."""
    by_age: dict[int, list[int]] = defaultdict(list)
    for i, age in enumerate(ages):
        by_age[int(age)].append(i)
    rng = random.Random(seed)
    split = ["train"] * len(ages)
    for age in sorted(by_age):
        members = by_age[age]
        rng.shuffle(members)
        n_test = round(len(members) * test)
        n_val = round(len(members) * val)
        for i in members[:n_test]:
            split[i] = "test"
        for i in members[n_test : n_test + n_val]:
            split[i] = "val"
    return split


def prepare(
    samples: Iterable[Sample],
    out_dir: str | Path,
    options: PrepareOptions = PrepareOptions(),
    progress: bool = True,
) -> dict:
    """Detect, align and store every sample; returns a summary that is also written to disk."""
    out = Path(out_dir)
    (out / "crops").mkdir(parents=True, exist_ok=True)
    samples = list(samples)
    jobs = [
        (str(s.path), options.size, tuple(map(tuple, options.template)), options.jpeg_quality)
        for s in samples
    ]
    if not jobs:
        raise ValueError("no labelled images found: check --source and --input")
    results = []
    with ProcessPoolExecutor(
        options.workers, initializer=_init_worker, initargs=(options.score_threshold,)
    ) as pool:
        iterator = pool.map(_process, jobs, chunksize=32)
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, total=len(jobs), desc="prepare", unit="img")
        results = list(iterator)

    kept: list[tuple[Sample, str]] = []
    seen: set[str] = set()
    failures: list[tuple[str, str]] = []
    duplicates = 0
    for sample, (digest, reason, crop) in zip(samples, results):
        if reason is not None:
            failures.append((str(sample.path), reason))
            continue
        if digest in seen:
            duplicates += 1
            continue
        seen.add(digest)
        (out / "crops" / f"{digest}.jpg").write_bytes(crop)
        kept.append((sample, digest))

    splits = stratified_split(
        [s.age for s, _ in kept], options.val_fraction, options.test_fraction, options.seed
    )
    with open(out / INDEX, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for (sample, digest), split in zip(kept, splits):
            writer.writerow([f"crops/{digest}.jpg", sample.age, sample.source, sample.path.name, split])
    with open(out / "no_face.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("original", "reason"))
        writer.writerows(failures)

    summary = {
        "images": len(samples),
        "kept": len(kept),
        "no_face_or_unreadable": len(failures),
        "duplicates_removed": duplicates,
        "split_sizes": {k: splits.count(k) for k in ("train", "val", "test")},
        "crop_size": options.size,
        "template": [list(p) for p in options.template],
        "sources": sorted({s.source for s, _ in kept}),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def read_index(prepared_dir: str | Path, split: str | list[str] | None = None) -> list[dict]:
    """Rows of a prepared set's index, optionally of one split (or a list of splits); `file` made absolute."""
    root = Path(prepared_dir)
    wanted = None if split is None else {split} if isinstance(split, str) else set(split)
    with open(root / INDEX, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if wanted is None or row["split"] in wanted]
    for row in rows:
        row["file"] = str(root / row["file"])
        row["age"] = float(row["age"])
    return rows
