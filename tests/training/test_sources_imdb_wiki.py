"""IMDB-WIKI metadata in its real layout: a MATLAB struct `imdb`/`wiki` of 1 x N fields."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat
from training_testdata import UTKFACE, run_cli, stratified_chips

from training.sources import iter_source
from training.sources.imdb_wiki import ImdbWikiOptions, datenum, datenum_year, iter_samples, read_records


def cell(strings: list[str]) -> np.ndarray:
    """A 1 x N MATLAB cell array of strings, as scipy writes and reads it."""
    array = np.empty((1, len(strings)), dtype=object)
    for i, text in enumerate(strings):
        array[0, i] = np.array([text])
    return array


def write_mat(folder: Path, key: str, rows: list[dict]) -> Path:
    """A .mat file shaped like the real release, with real face chips as the photos."""
    chips = stratified_chips(len(rows))
    paths = []
    for i, (row, chip) in enumerate(zip(rows, chips)):
        rel = f"{i % 3:02d}/nm{i:07d}_rm{i}_{row['born'].year}_{row['taken']}.jpg"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes((UTKFACE / chip).read_bytes())
        paths.append(rel)
    struct = {
        "dob": np.array([[datenum(r["born"]) for r in rows]]),
        "photo_taken": np.array([[r["taken"] for r in rows]], dtype=np.float64),
        "full_path": cell(paths),
        "gender": np.array([[1.0] * len(rows)]),
        "name": cell([f"person {i}" for i in range(len(rows))]),
        "face_location": cell(["0 0 10 10"] * len(rows)),
        "face_score": np.array([[r.get("face", 3.5) for r in rows]]),
        "second_face_score": np.array([[r.get("second", np.nan) for r in rows]]),
    }
    if key == "imdb":
        struct["celeb_names"] = cell([f"person {i}" for i in range(len(rows))])
        struct["celeb_id"] = np.arange(1, len(rows) + 1, dtype=np.float64).reshape(1, -1)
    path = folder / f"{key}.mat"
    savemat(path, {key: struct})
    return path


ROWS = [
    {"born": date(1980, 7, 1), "taken": 2005},  # 25: kept
    {"born": date(1990, 1, 20), "taken": 2012},  # 22: kept
    {"born": date(1970, 3, 3), "taken": 2001, "face": -np.inf},  # no face: dropped
    {"born": date(1985, 5, 5), "taken": 2010, "second": 2.1},  # a second face: dropped
    {"born": date(2005, 1, 1), "taken": 2010},  # 5: below the default range
    {"born": date(1920, 1, 1), "taken": 2000},  # 80: above the default range
    {"born": date(1988, 2, 2), "taken": 2010},  # 22: kept (or capped)
    {"born": date(1960, 12, 31), "taken": 2008},  # 48: kept
]


def test_datenum_matches_matlab() -> None:
    assert datenum(date(2000, 1, 1)) == 730486.0  # MATLAB: datenum(2000,1,1)
    assert datenum_year(730486.0) == 2000
    assert datenum_year(723363.4) == 1980  # fractional day
    assert datenum_year(12.0) is None and datenum_year(float("nan")) is None


def test_real_struct_layout_round_trips(tmp_path: Path) -> None:
    mat = write_mat(tmp_path / "imdb_crop", "imdb", ROWS)
    records = read_records(mat)
    assert len(records) == len(ROWS)
    assert records[0]["path"] == mat.parent / "00/nm0000000_rm0_1980_2005.jpg"
    assert records[0]["birth_year"] == 1980 and records[0]["photo_year"] == 2005
    assert records[2]["face_score"] == -math.inf and math.isnan(records[0]["second_face_score"])


def test_cleaning_age_range_and_cap(tmp_path: Path) -> None:
    mat = write_mat(tmp_path / "wiki_crop", "wiki", ROWS)
    samples = list(iter_samples(mat.parent))  # a folder holding wiki.mat works too
    assert sorted(s.age for s in samples) == [22.0, 22.0, 25.0, 48.0]
    assert all(s.source == "wiki" and s.path.is_file() for s in samples)
    capped = list(iter_samples(mat, ImdbWikiOptions(per_age_cap=1)))
    assert sorted(s.age for s in capped) == [22.0, 25.0, 48.0]
    wide = list(iter_source("imdb-wiki", mat, age_min=0, age_max=100))
    assert sorted(s.age for s in wide) == [5.0, 22.0, 22.0, 25.0, 48.0, 80.0]


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"imdb\.mat or wiki\.mat"):
        list(iter_samples(tmp_path))
    savemat(tmp_path / "other.mat", {"celeba": {"x": np.zeros((1, 2))}})
    with pytest.raises(ValueError, match="neither an 'imdb' nor a 'wiki'"):
        read_records(tmp_path / "other.mat")
    savemat(tmp_path / "imdb.mat", {"imdb": {"dob": np.zeros((1, 2)), "photo_taken": np.zeros((1, 2))}})
    with pytest.raises(ValueError, match="no field 'full_path'"):
        read_records(tmp_path / "imdb.mat")


def test_prepare_command_on_imdb_layout(tmp_path: Path) -> None:
    mat = write_mat(tmp_path / "imdb_crop", "imdb", ROWS)
    (unreadable,) = mat.parent.glob("*/nm0000006_rm6_*.jpg")
    unreadable.write_bytes(b"not a jpeg")
    out = tmp_path / "prepared"
    result = run_cli(
        "prepare",
        "--source",
        "imdb-wiki",
        "--input",
        str(mat),
        "--out",
        str(out),
        "--size",
        "64",
        "--workers",
        "1",
        "--quiet",
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["images"] == 4 and summary["kept"] == 3 and summary["no_face_or_unreadable"] == 1
    index = (out / "index.csv").read_text().splitlines()
    assert index[0] == "file,age,source,original,split" and len(index) == 4
    assert "unreadable" in (out / "no_face.csv").read_text()
