"""Faces followed across a video's sampled frames, and one age per person: the page's live-mode rule.

The rule is written once per language: here, and in `frontend/src/live/` for the camera. Both are
checked against one file of cases (`frontend/src/live/tracking-cases.json`) and one file of settings
(`frontend/src/live/settings.json`, whose values these defaults must equal), so they cannot drift.

- Faces of consecutive frames are matched to the open tracks greedily, highest box IoU first, each
  track and face used once, at IoU `MATCH_IOU` or more; a face nothing matches opens a track; a track
  unseen for more than `MISS_FRAMES` frames ends.
- A track's frames are combined by the tempered product of their calibrated distributions,
  p(a) ∝ Π p_i(a)^(n_eff / N) with n_eff = min(N, MAX_EFFECTIVE_FRAMES): frames of one person share the
  person, the light and the pose, so many agreeing frames count as at most one look (a steadier age,
  not a narrower interval).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..vision.boxes import iou

MATCH_IOU = 0.2
MISS_FRAMES = 2
MAX_EFFECTIVE_FRAMES = 1
FLOOR = 1e-7  # a rounded zero must not veto an age for good


def match(
    tracks: Sequence[Sequence[float]], faces: Sequence[Sequence[float]], min_iou: float
) -> list[tuple[int, int]]:
    """(track, face) index pairs, best overlap first, each track and each face used once."""
    pairs = [
        (overlap, t, f)
        for t, track in enumerate(tracks)
        for f, face in enumerate(faces)
        if (overlap := iou(track, face)) >= min_iou
    ]
    pairs.sort(key=lambda pair: -pair[0])
    used_tracks: set[int] = set()
    used_faces: set[int] = set()
    chosen = []
    for _, t, f in pairs:
        if t not in used_tracks and f not in used_faces:
            used_tracks.add(t)
            used_faces.add(f)
            chosen.append((t, f))
    return chosen


def combine(distributions: Sequence[np.ndarray], max_effective: int = MAX_EFFECTIVE_FRAMES) -> np.ndarray:
    """The tempered normalised product of N calibrated distributions, counted as min(N, max_effective)."""
    if not distributions:
        raise ValueError("combine needs at least one distribution")
    weight = min(len(distributions), max_effective) / len(distributions)
    logs = weight * np.log(np.maximum(np.asarray(distributions, dtype=np.float64), FLOOR)).sum(axis=0)
    raw = np.exp(logs - logs.max())
    return raw / raw.sum()


@dataclass
class Track:
    """One person: the frames they were seen in and their faces there (any objects with a `box`)."""

    id: int
    frames: list[int] = field(default_factory=list)
    faces: list = field(default_factory=list)
    misses: int = 0

    @property
    def box(self) -> Sequence[float]:
        return self.faces[-1].box


def follow(
    frames: Sequence[Sequence], min_iou: float = MATCH_IOU, miss_frames: int = MISS_FRAMES
) -> list[Track]:
    """Every track over `frames` (each a list of faces with a `box`, one list per sampled frame), by id."""
    open_tracks: list[Track] = []
    ended: list[Track] = []
    next_id = 1
    for number, faces in enumerate(frames):
        pairs = dict(
            (f, t) for t, f in match([t.box for t in open_tracks], [face.box for face in faces], min_iou)
        )
        still_open = []
        for f, face in enumerate(faces):
            if f in pairs:
                track = open_tracks[pairs[f]]
            else:
                track, next_id = Track(next_id), next_id + 1
            track.frames.append(number)
            track.faces.append(face)
            track.misses = 0
            still_open.append(track)
        for t, track in enumerate(open_tracks):
            if t in pairs.values():
                continue
            track.misses += 1
            (still_open if track.misses <= miss_frames else ended).append(track)
        open_tracks = still_open
    return sorted([*ended, *open_tracks], key=lambda track: track.id)
