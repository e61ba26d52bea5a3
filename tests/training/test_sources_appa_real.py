"""APPA-REAL ground truth: gt_avg_{train,valid,test}.csv beside train/, valid/, test/ photo folders."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from training_testdata import UTKFACE, stratified_chips

from training.sources import iter_source
from training.sources.appa_real import AppaRealOptions, iter_samples

HEADER = ["file_name", "num_ratings", "apparent_age_avg", "apparent_age_std", "real_age"]


def write_appa(root: Path) -> Path:
    chips = iter(stratified_chips(6))
    table = {
        "train": [("000000.jpg", 36, 33.4, 4.2, 35), ("000001.jpg", 38, 5.1, 1.3, 4)],
        "valid": [("004113.jpg", 40, 61.9, 6.0, 68), ("004114.jpg", 41, "n/a", 2.0, 30)],
        "test": [("005613.jpg", 33, 20.5, 3.3, 22), ("005614.jpg", 30, 77.0, 5.5, 80)],
    }
    for split, rows in table.items():
        (root / split).mkdir(parents=True)
        with open(root / f"gt_avg_{split}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for name, ratings, apparent, std, real in rows:
                writer.writerow([name, ratings, apparent, std, real])
                (root / split / name).write_bytes((UTKFACE / next(chips)).read_bytes())
    return root


def test_real_and_apparent_targets(tmp_path: Path) -> None:
    root = write_appa(tmp_path / "appa-real-release")
    real = list(iter_samples(root))
    assert [s.age for s in real] == [35, 4, 68, 22, 80]  # the row with a bad apparent age is skipped
    assert all(s.path.is_file() and s.source == "appa-real" for s in real)
    assert real[2].meta == {"split": "valid", "real_age": 68.0, "apparent_age": 61.9, "apparent_age_std": 6.0}
    apparent = list(iter_source("appa-real", root, target="apparent"))
    assert [s.age for s in apparent] == [33.4, 5.1, 61.9, 20.5, 77.0]


def test_choose_splits_and_reject_bad_options(tmp_path: Path) -> None:
    root = write_appa(tmp_path / "appa")
    test_only = list(iter_samples(root, AppaRealOptions(splits=("test",))))
    assert [s.path.name for s in test_only] == ["005613.jpg", "005614.jpg"]
    with pytest.raises(ValueError, match="unknown APPA-REAL target"):
        AppaRealOptions(target="perceived")
    with pytest.raises(ValueError, match="unknown APPA-REAL splits"):
        AppaRealOptions(splits=("training",))


def test_missing_or_malformed_csv(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="gt_avg"):
        list(iter_samples(tmp_path))
    (tmp_path / "gt_avg_train.csv").write_text("file_name,real_age\n000000.jpg,30\n")
    with pytest.raises(ValueError, match="lacks columns"):
        list(iter_samples(tmp_path))
