"""IMDB-WIKI (Rothe et al.): ages from `imdb.mat` / `wiki.mat` metadata.

Each file holds one MATLAB struct (`imdb` or `wiki`) whose fields are 1 x N
arrays: `dob` (birth date as a MATLAB datenum), `photo_taken` (year),
`full_path` (cell array of paths relative to the .mat's folder), `face_score`
(-inf where no face was found) and `second_face_score` (NaN where there is no
second face). The labels are known to be noisy, so the usual cleaning applies:
drop photos without a face or with a second face, keep a plausible age range and
cap how many photos one age contributes.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from . import Sample

_MATLAB_EPOCH_OFFSET = 366  # datenum(0000-01-01) = 1; Python's ordinal(0001-01-01) = 1


@dataclass(frozen=True)
class ImdbWikiOptions:
    age_min: int = 10
    age_max: int = 75
    per_age_cap: int = 5000
    seed: int = 0


def datenum_year(datenum: float) -> int | None:
    """Calendar year of a MATLAB datenum, or None for values that are no real date."""
    if not math.isfinite(datenum) or datenum < _MATLAB_EPOCH_OFFSET + 1:
        return None
    try:
        return (date.fromordinal(int(datenum) - _MATLAB_EPOCH_OFFSET)).year
    except (ValueError, OverflowError):
        return None


def find_mat(path: str | Path) -> Path:
    """The .mat file itself, or the one `imdb.mat` / `wiki.mat` inside a folder."""
    path = Path(path)
    if path.is_file():
        return path
    for name in ("imdb.mat", "wiki.mat"):
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(f"no imdb.mat or wiki.mat in {path}")


def _field(record: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.asarray(record[name]).reshape(-1)
    except (KeyError, ValueError, IndexError):
        raise ValueError(f"IMDB-WIKI metadata has no field {name!r}") from None


def _text(cell: object) -> str:
    """A MATLAB cell entry (a nested array holding one string) as str."""
    value = cell
    while isinstance(value, np.ndarray):
        if value.size == 0:
            return ""
        value = value.reshape(-1)[0]
    return str(value)


def read_records(mat_path: str | Path) -> list[dict]:
    """Every row of the metadata, unfiltered: path, birth year, photo year and the two face scores."""
    from scipy.io import loadmat  # training-only dependency

    mat_path = Path(mat_path)
    content = loadmat(str(mat_path))
    key = next((k for k in ("imdb", "wiki") if k in content), None)
    if key is None:
        raise ValueError(f"{mat_path} holds neither an 'imdb' nor a 'wiki' struct")
    record = content[key].reshape(-1)[0]
    dob, taken = _field(record, "dob"), _field(record, "photo_taken")
    paths = _field(record, "full_path")
    face, second = _field(record, "face_score"), _field(record, "second_face_score")
    if not len(dob) == len(taken) == len(paths) == len(face) == len(second):
        raise ValueError(f"{mat_path}: fields have different lengths")
    return [
        {
            "path": mat_path.parent / _text(p),
            "birth_year": datenum_year(float(d)),
            "photo_year": int(t),
            "face_score": float(f),
            "second_face_score": float(s),
            "dataset": key,
        }
        for d, t, p, f, s in zip(dob, taken, paths, face, second)
    ]


def iter_samples(path: str | Path, options: ImdbWikiOptions = ImdbWikiOptions()) -> Iterator[Sample]:
    """Cleaned samples: one face, a valid birth date, age in range, at most `per_age_cap` per age."""
    by_age: dict[int, list[dict]] = defaultdict(list)
    for row in read_records(find_mat(path)):
        if not math.isfinite(row["face_score"]) or not math.isnan(row["second_face_score"]):
            continue  # no face found, or a second face that may be the one labelled
        if row["birth_year"] is None:
            continue
        age = row["photo_year"] - row["birth_year"]
        if options.age_min <= age <= options.age_max:
            by_age[age].append(row)
    rng = random.Random(options.seed)
    for age in sorted(by_age):
        rows = by_age[age]
        if len(rows) > options.per_age_cap:
            rows = sorted(rng.sample(rows, options.per_age_cap), key=lambda r: str(r["path"]))
        for row in rows:
            yield Sample(
                path=row["path"],
                age=float(age),
                source=row["dataset"],
                meta={"face_score": row["face_score"]},
            )


def datenum(day: date) -> float:
    """MATLAB datenum of a date (the inverse of `datenum_year`'s conversion; used to write test data)."""
    return float(day.toordinal() + _MATLAB_EPOCH_OFFSET)
