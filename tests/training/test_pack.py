"""Packing a prepared set for a GPU machine, unpacking it there, and the checkpoint's trip back in parts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest
from training_testdata import run_cli

from training.pack import pack, unpack
from training.parts import join_file, split_file


def read_rows(prepared: Path) -> list[dict]:
    with open(prepared / "index.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("fmt", ["webp", "jpeg"])
def test_pack_in_shards_and_unpack_to_a_prepared_set(tiny_prepared: Path, tmp_path: Path, fmt: str) -> None:
    summary = pack(tiny_prepared, tmp_path / "packed", size=40, fmt=fmt, quality=85, shard_mib=0.1)
    original = read_rows(tiny_prepared)
    assert summary["total"] == len(original) and len(summary["shards"]) >= 2  # 0.1 MiB shards: forced split
    assert sum(s["images"] for s in summary["shards"]) == len(original)
    assert all((tmp_path / "packed" / s["file"]).stat().st_size <= 0.1 * 2**20 for s in summary["shards"])

    restored = unpack(tmp_path / "packed", tmp_path / "unpacked")
    rows = read_rows(tmp_path / "unpacked")
    assert restored["kept"] == len(original) and restored["crop_size"] == 40
    key = lambda r: (r["original"], r["split"], float(r["age"]), r["source"])  # noqa: E731
    assert sorted(map(key, rows)) == sorted(map(key, original))
    crop = cv2.imread(str(tmp_path / "unpacked" / rows[0]["file"]))
    assert crop.shape == (40, 40, 3) and crop.mean() > 10


def test_unpack_refuses_an_incomplete_pack(tiny_prepared: Path, tmp_path: Path) -> None:
    summary = pack(tiny_prepared, tmp_path / "packed", size=40, shard_mib=0.1)
    (tmp_path / "packed" / summary["shards"][0]["file"]).unlink()
    with pytest.raises(ValueError, match="a shard is missing"):
        unpack(tmp_path / "packed", tmp_path / "unpacked")


def test_pack_and_unpack_commands(tiny_prepared: Path, tmp_path: Path) -> None:
    packed = json.loads(
        run_cli("pack", "--prepared", str(tiny_prepared), "--out", str(tmp_path / "p"), "--size", "32").stdout
    )
    assert packed["format"] == "webp" and len(packed["shards"]) == 1 and packed["total_mib"] < 1
    unpacked = json.loads(
        run_cli("unpack", "--packed", str(tmp_path / "p"), "--out", str(tmp_path / "u")).stdout
    )
    assert unpacked["kept"] == packed["total"]


def test_split_and_join_a_checkpoint_sized_file(tmp_path: Path) -> None:
    big = tmp_path / "best.safetensors"
    big.write_bytes(bytes(range(256)) * (5 * 2**12 + 7))  # ~5 MiB
    manifest = split_file(big, tmp_path / "parts", part_mib=2)
    assert len(manifest["parts"]) == 3
    assert all((tmp_path / "parts" / p).stat().st_size <= 2 * 2**20 for p in manifest["parts"])
    joined = join_file(tmp_path / "parts", tmp_path / "back" / "best.safetensors")
    assert joined.read_bytes() == big.read_bytes()
    damaged = tmp_path / "parts" / manifest["parts"][1]
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ValueError, match="missing or damaged"):
        join_file(tmp_path / "parts", tmp_path / "again.safetensors")
    assert not (tmp_path / "again.safetensors").exists()
