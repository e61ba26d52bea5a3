"""A prepared set as a few compact archives, to carry to a GPU machine, and back to a folder there.

Each shard is one `.npz` (no pickle) of uint8 arrays: every crop re-encoded at the
training size (WebP by default: about 40 % smaller than JPEG at the same quality
on these crops) laid end to end, with offsets, ages, splits and original names.
Shards are capped in size so that each fits beside the repository in one transfer.
`unpack` writes an ordinary prepared folder, so training reads it unchanged.
"""

from __future__ import annotations

import csv
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from .prepare import COLUMNS, INDEX, read_index

FORMATS = {"webp": (".webp", cv2.IMWRITE_WEBP_QUALITY), "jpeg": (".jpg", cv2.IMWRITE_JPEG_QUALITY)}
SHARD_GLOB = "shard-*.npz"
SPLITS = ("train", "val", "test")


def _encode(path: str, size: int, fmt: str, quality: int) -> bytes:
    crop = cv2.imread(path, cv2.IMREAD_COLOR)
    if crop is None:
        raise OSError(f"cannot read prepared crop {path}")
    if crop.shape[0] != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(FORMATS[fmt][0], crop, [FORMATS[fmt][1], quality])
    if not ok:
        raise OSError(f"cannot encode {path} as {fmt}")
    return encoded.tobytes()


def _text_array(values: list[str]) -> np.ndarray:
    """Strings as one UTF-8 byte array, newline-separated (a quarter of numpy's fixed-width unicode)."""
    return np.frombuffer("\n".join(values).encode(), dtype=np.uint8)


def _texts(array: np.ndarray) -> list[str]:
    return array.tobytes().decode().split("\n")


def _row_bytes(row: dict, blob: bytes) -> int:
    """What one crop adds to a shard: image, offset, age, split code and its text fields."""
    return len(blob) + 8 + 4 + 1 + len(row["original"].encode()) + len(row["source"]) + 2


def _write_shard(path: Path, rows: list[dict], blobs: list[bytes], header: dict) -> None:
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    np.savez(
        path,
        data=np.frombuffer(b"".join(blobs), dtype=np.uint8),
        offsets=offsets,
        ages=np.array([r["age"] for r in rows], dtype=np.float32),
        split=np.array([SPLITS.index(r["split"]) for r in rows], dtype=np.uint8),
        source=_text_array([r["source"] for r in rows]),
        original=_text_array([r["original"] for r in rows]),
        header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
    )


def pack(
    prepared: str | Path,
    out_dir: str | Path,
    size: int = 112,
    fmt: str = "webp",
    quality: int = 85,
    shard_mib: float = 10.0,
    workers: int = 4,
) -> dict:
    """Write `shard-NNN.npz` files of at most ~`shard_mib` MiB each; returns a summary."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {sorted(FORMATS)}")
    rows = read_index(prepared)
    if not rows:
        raise ValueError(f"{prepared} has no crops")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(SHARD_GLOB):
        old.unlink()
    with ThreadPoolExecutor(workers) as pool:
        blobs = list(pool.map(lambda r: _encode(r["file"], size, fmt, quality), rows))
    header = {"size": size, "format": fmt, "quality": quality, "total": len(rows)}
    summary_path = Path(prepared) / "summary.json"
    if summary_path.is_file():
        header["template"] = json.loads(summary_path.read_text()).get("template")
    limit = int(shard_mib * 2**20) - 64 * 2**10  # headroom for the npz container and header
    sizes = [_row_bytes(r, b) for r, b in zip(rows, blobs)]
    shards, start, used = [], 0, 0
    for i, size_i in enumerate([*sizes, 0]):
        last = i == len(blobs)
        if (used + size_i > limit and i > start) or last:
            path = out / f"shard-{len(shards):03d}.npz"
            _write_shard(path, rows[start:i], blobs[start:i], {**header, "shard": len(shards)})
            shards.append(
                {"file": path.name, "images": i - start, "mib": round(path.stat().st_size / 2**20, 2)}
            )
            start, used = i, 0
        used += size_i
    summary = {**header, "shards": shards, "total_mib": round(sum(s["mib"] for s in shards), 2)}
    (out / "pack.json").write_text(json.dumps(summary, indent=1))
    return summary


def unpack(packed: str | Path | list[Path], out_dir: str | Path) -> dict:
    """Shards (a folder of them, or a list of files) to a prepared folder: crops/, index.csv, summary.json."""
    if isinstance(packed, list):
        files = sorted(Path(p) for p in packed)
    else:
        files = sorted(Path(packed).glob(SHARD_GLOB)) if Path(packed).is_dir() else [Path(packed)]
    if not files:
        raise FileNotFoundError(f"no {SHARD_GLOB} in {packed}")
    out = Path(out_dir)
    (out / "crops").mkdir(parents=True, exist_ok=True)
    index, header, seen_shards = [], {}, set()
    for file in files:
        with np.load(file, allow_pickle=False) as shard:
            header = json.loads(shard["header"].tobytes())
            seen_shards.add(header["shard"])
            data, offsets, ages = shard["data"], shard["offsets"], shard["ages"]
            splits, sources, originals = shard["split"], _texts(shard["source"]), _texts(shard["original"])
            suffix = FORMATS[header["format"]][0]
            for i in range(len(offsets) - 1):
                blob = data[offsets[i] : offsets[i + 1]].tobytes()
                name = f"crops/{hashlib.sha1(blob).hexdigest()}{suffix}"
                (out / name).write_bytes(blob)
                index.append([name, float(ages[i]), sources[i], originals[i], SPLITS[splits[i]]])
    if len(index) != header["total"]:
        raise ValueError(
            f"shards hold {len(index)} crops but the pack had {header['total']}: "
            f"a shard is missing (have {sorted(seen_shards)})"
        )
    with open(out / INDEX, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(index)
    splits = [row[4] for row in index]
    summary = {
        "kept": len(index),
        "crop_size": header["size"],
        "template": header.get("template"),
        "split_sizes": {k: splits.count(k) for k in ("train", "val", "test")},
        "unpacked_from": header,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
