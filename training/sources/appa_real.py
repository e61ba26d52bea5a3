"""APPA-REAL (Agustsson et al. 2017): real and apparent age for each photo.

The release holds `gt_avg_{train,valid,test}.csv` (columns `file_name`,
`real_age`, `apparent_age_avg`, `apparent_age_std`, ...) beside the folders
`train/`, `valid/`, `test/` with the photos. Either age can be the target.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import Sample

SPLITS = ("train", "valid", "test")
TARGETS = {"real": "real_age", "apparent": "apparent_age_avg"}
REQUIRED = ("file_name", "real_age", "apparent_age_avg", "apparent_age_std")


@dataclass(frozen=True)
class AppaRealOptions:
    target: str = "real"  # real | apparent
    splits: tuple[str, ...] = SPLITS

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"unknown APPA-REAL target {self.target!r}; use 'real' or 'apparent'")
        unknown = set(self.splits) - set(SPLITS)
        if unknown:
            raise ValueError(f"unknown APPA-REAL splits {sorted(unknown)}; known: {SPLITS}")


def read_split(root: Path, split: str) -> list[dict]:
    """Rows of one ground-truth CSV, checked for the columns we need."""
    path = root / f"gt_avg_{split}.csv"
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks columns {missing}")
        return list(reader)


def iter_samples(root: str | Path, options: AppaRealOptions = AppaRealOptions()) -> Iterator[Sample]:
    """Samples of the chosen splits; CSVs that are absent are skipped, rows with bad ages too."""
    root = Path(root)
    found = [s for s in options.splits if (root / f"gt_avg_{s}.csv").is_file()]
    if not found:
        raise FileNotFoundError(f"no gt_avg_{{train,valid,test}}.csv in {root}")
    for split in found:
        for row in read_split(root, split):
            try:
                real, apparent = float(row["real_age"]), float(row["apparent_age_avg"])
                std = float(row["apparent_age_std"])
            except ValueError:
                continue  # a row without usable ages
            yield Sample(
                path=root / split / row["file_name"].strip(),
                age=real if options.target == "real" else apparent,
                source="appa-real",
                meta={"split": split, "real_age": real, "apparent_age": apparent, "apparent_age_std": std},
            )
