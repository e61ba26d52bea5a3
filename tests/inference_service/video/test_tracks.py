"""The video tracker is the page's live-mode rule: both run the cases of one shared file, and the
Python defaults equal the page's settings."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from inference_service.video import tracks

from ..server import REPO

LIVE = REPO / "frontend" / "src" / "live"
CASES = json.loads((LIVE / "tracking-cases.json").read_text())


@dataclass
class _Face:
    box: list[float]


def test_the_defaults_are_the_pages() -> None:
    settings = json.loads((LIVE / "settings.json").read_text())
    assert (
        settings["matchIou"],
        settings["missFrames"],
        settings["maxEffectiveFrames"],
    ) == (tracks.MATCH_IOU, tracks.MISS_FRAMES, tracks.MAX_EFFECTIVE_FRAMES)


@pytest.mark.parametrize("case", CASES["iou"])
def test_iou(case: dict) -> None:
    assert tracks.iou(case["a"], case["b"]) == pytest.approx(case["expected"], abs=1e-12)


@pytest.mark.parametrize("case", CASES["match"])
def test_match(case: dict) -> None:
    found = tracks.match(case["tracks"], case["faces"], case["minIou"])
    assert sorted(map(list, found)) == sorted(case["expected"])


@pytest.mark.parametrize("case", CASES["follow"], ids=lambda c: c["name"])
def test_follow(case: dict) -> None:
    frames = [[_Face(box) for box in boxes] for boxes in case["frames"]]
    ids = {id(face): track.id for track in tracks.follow(frames) for face in track.faces}
    assert [[ids[id(face)] for face in faces] for faces in frames] == case["expected"]


@pytest.mark.parametrize("case", CASES["combine"])
def test_combine(case: dict) -> None:
    combined = tracks.combine([np.asarray(f) for f in case["frames"]], case["maxEffective"])
    assert combined == pytest.approx(case["expected"], rel=1e-9, abs=1e-15)
