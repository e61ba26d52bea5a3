"""Labelled face datasets. Each module turns one dataset's layout into `Sample`s, and says which group
labels (gender, ethnicity: used only to measure who the model serves worst) its photos carry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SOURCES: tuple[str, ...] = ("utkface", "imdb-wiki", "appa-real")
# {"gender": ..., "ethnicity": ...}; a value is None where the photo's record lacks that field.
GroupLabels = dict[str, str | None]


@dataclass(frozen=True)
class Sample:
    """One labelled photo: where it is, the age to learn, and what it came from."""

    path: Path
    age: float
    source: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)


def iter_source(name: str, path: str | Path, **options: object) -> Iterator[Sample]:
    """Samples of a dataset chosen by name; `options` are that source's options."""
    if name == "utkface":
        from .utkface import iter_samples

        age_range = options.pop("age_range", (0, 120))
        if options:
            raise ValueError(f"options {sorted(options)} do not apply to utkface")
        return iter_samples(path, age_range=age_range)  # type: ignore[arg-type]
    if name == "imdb-wiki":
        from .imdb_wiki import ImdbWikiOptions
        from .imdb_wiki import iter_samples as imdb_samples

        return imdb_samples(path, ImdbWikiOptions(**options))  # type: ignore[arg-type]
    if name == "appa-real":
        from .appa_real import AppaRealOptions
        from .appa_real import iter_samples as appa_samples

        return appa_samples(path, AppaRealOptions(**options))  # type: ignore[arg-type]
    raise ValueError(f"unknown source {name!r}; known: {SOURCES}")


def group_labels(source: str, original: str) -> GroupLabels | None:
    """The group labels a source records for one photo (by its file name), or None: the source has none.

    Only UTKFace names carry them; IMDB-WIKI and APPA-REAL, as read here, record no gender or ethnicity.
    """
    if source == "utkface":
        from .utkface import group_labels as utkface_labels

        return utkface_labels(original)
    if source in SOURCES:
        return None
    raise ValueError(f"unknown source {source!r}; known: {SOURCES}")
