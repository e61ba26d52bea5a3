"""UTKFace "Aligned & Cropped" chips: the label is in the file name.

`AGE_GENDER_RACE_DATETIME.jpg.chip.jpg`; some names miss a field or carry a
stray space. The age (first field) is always there, so only it is required.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from . import GroupLabels, Sample

GENDERS = {0: "male", 1: "female"}
ETHNICITIES = {0: "White", 1: "Black", 2: "Asian", 3: "Indian", 4: "Others"}
_NAME = re.compile(r"^\s*(?P<age>\d{1,3})_(?P<rest>.*)$")
_SUFFIXES = (".jpg", ".jpeg", ".png")


def parse_name(name: str) -> dict | None:
    """Labels from a chip's file name, or None when not even the age can be read."""
    match = _NAME.match(name)
    if not match:
        return None
    age = int(match["age"])
    fields = [f.strip() for f in match["rest"].split(".")[0].split("_")]
    labels: dict = {"age": age}
    # Full names have gender, race, datetime; short ones drop a middle field.
    if len(fields) >= 3:
        labels["gender"], labels["race"] = _code(fields[0], 1), _code(fields[1], 4)
    elif len(fields) == 2:
        labels["gender"] = _code(fields[0], 1)
    return labels


def group_labels(name: str) -> GroupLabels:
    """{"gender": ..., "ethnicity": ...} from a chip's name; None where the name lacks the field."""
    labels = parse_name(name) or {}
    return {"gender": GENDERS.get(labels.get("gender")), "ethnicity": ETHNICITIES.get(labels.get("race"))}


def _code(text: str, largest: int) -> int | None:
    """A one-digit category code (gender 0-1, race 0-4), or None when it is not one."""
    return int(text) if text.isdigit() and len(text) == 1 and int(text) <= largest else None


def iter_samples(folder: str | Path, age_range: tuple[int, int] = (0, 120)) -> Iterator[Sample]:
    for path in sorted(Path(folder).iterdir()):
        if not path.is_file() or not path.name.lower().endswith(_SUFFIXES):
            continue
        labels = parse_name(path.name)
        if labels is None or not age_range[0] <= labels["age"] <= age_range[1]:
            continue
        meta = {k: v for k, v in labels.items() if k != "age" and v is not None}
        yield Sample(path=path, age=float(labels["age"]), source="utkface", meta=meta)
