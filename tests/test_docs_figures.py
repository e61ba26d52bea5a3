"""The headline figures the pages quote are the shipped model's, formatted as each page formats them.

Expectations are derived, never written here: `models/model-card.json` (version, test MAE, the 300-chip
MAE) and the test-split evaluation the checkpoint carries (`metrics.test`, recorded by
`python -m training evaluate ... --record test`; its MAE must equal the card's). So replacing the model
and its card makes this test demand the new figures in README.md, docs/model-card.md and
docs/age-checks.md. The tables are compared line by line with what `python -m training card-tables` prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inference_service.vision.ensemble import read_model_metadata
from inference_service.vision.options import AgeModelOptions
from training.report import accuracy, checks, groups

REPO = Path(__file__).resolve().parents[1]
CARD = json.loads((REPO / "models" / "model-card.json").read_text())
META = read_model_metadata(REPO / AgeModelOptions().path)  # the shipped model: the service's default
TEST: dict[str, Any] = META.metrics["test"]
CALIBRATION: dict[str, Any] = META.metrics["calibration"]
README = (REPO / "README.md").read_text()
MODEL_CARD = (REPO / "docs" / "model-card.md").read_text()
AGE_CHECKS = (REPO / "docs" / "age-checks.md").read_text()
# A model version where the pages name one: in code spans (`0.6.0-cpu-112px`) and example answers.
VERSION = re.compile(r"`(\d+\.\d+\.\d+[^`]*)`|\"version\":\s*\"([^\"]+)\"")
# {N} in a pattern: a figure such as 2,075 or 5.0 or 80.1 (not the full stop after it).
NUMBER = r"\d[\d,]*(?:\.\d+)?"


def one_decimal(value: float) -> str:
    return f"{value:.1f}"


def two_decimals(value: float) -> str:
    return f"{value:.2f}"


def percent(share: float, decimals: int = 1) -> str:
    """A share as the prose writes it: `80.1 %` (a space before the sign)."""
    return f"{share * 100:.{decimals}f} %"


def check(threshold: int) -> dict[str, Any]:
    return TEST["age_checks"]["thresholds"][str(threshold)]


def group_mae(name: str) -> float:
    return TEST["groups"][name]["mae"]


def test_card_and_checkpoint_describe_the_same_model() -> None:
    assert META.version == CARD["model_version"] == TEST["model_version"]
    assert TEST["mae"] == pytest.approx(CARD["test_mae"], abs=5e-4), (
        "model-card.json and the checkpoint differ"
    )


@pytest.mark.parametrize("page", ["README.md", "docs/api.md"])
def test_pages_name_only_the_shipped_version(page: str) -> None:
    text = (REPO / page).read_text()
    assert CARD["model_version"] in text
    named = {code or answer for code, answer in VERSION.findall(text)}
    assert named == {CARD["model_version"]}, f"{page} names another model version"


def test_model_card_names_the_shipped_version_and_input() -> None:
    assert f"| Version | `{CARD['model_version']}`" in MODEL_CARD
    size = META.model.input_size
    assert f"{size}×{size} face crops" in MODEL_CARD


# (what, pattern with one group per figure, the figures as the page must show them)
Quote = tuple[str, str, Callable[[], tuple[str, ...]]]
README_QUOTES: list[Quote] = [
    ("test faces", r"On the ({N}) faces of its UTKFace test split", lambda: (f"{TEST['n']:,}",)),
    ("model version", r"the shipped model\s+\(`([^`]+)`", lambda: (CARD["model_version"],)),
    ("test MAE", r"off by \*\*({N}) years\*\*", lambda: (one_decimal(CARD["test_mae"]),)),
    ("children", r"\(({N}) for children 0–12", lambda: (one_decimal(group_mae("0-12")),)),
    ("20–39", r"({N}) for 20–39", lambda: (one_decimal(group_mae("20-39")),)),
    (
        "past 60",
        r"({N})–({N}) past 60",
        lambda: tuple(one_decimal(f(group_mae("60-79"), group_mae("80+"))) for f in (min, max)),
    ),
    ("CS@5", r"({N} %) of faces are within 5 years", lambda: (percent(TEST["cs5"], 0),)),
    ("coverage", r"80 %\s+range holds ({N} %)", lambda: (percent(TEST["interval_coverage"]),)),
    ("18+ false accept", r"lets ({N} %) of minors", lambda: (percent(check(18)["false_accept_rate"]),)),
    ("18+ uncertain", r"sends ({N} %) of faces to", lambda: (percent(check(18)["uncertain_share"], 0),)),
]
MODEL_CARD_QUOTES: list[Quote] = [
    ("CS@5", r"CS@5 \(share within 5 years\) \*\*({N} %)\*\*", lambda: (percent(TEST["cs5"]),)),
    ("coverage", r"covers \*\*({N} %)\*\* of test faces", lambda: (percent(TEST["interval_coverage"]),)),
    ("interval width", r"\(mean width ({N}) years", lambda: (one_decimal(TEST["interval_mean_width"]),)),
    (
        "MAE 13–30",
        r"MAE averaged over each year of age 13–30[^:]*: ({N})",
        lambda: (two_decimals(TEST["age_checks"]["mae_13_30_mean_of_years"]),),
    ),
    (
        "temperature",
        r"temperature ({N}) fitted on the validation split",
        lambda: (f"{CALIBRATION['temperature']:.3f}",),
    ),
    (
        "300-chip MAE",
        r"`models/test-300.txt`: MAE \*\*({N})",
        lambda: (two_decimals(CARD["test300_mae"]),),
    ),
]
AGE_CHECKS_QUOTES: list[Quote] = [
    ("temperature", r"fitted\s+temperature is ({N})", lambda: (f"{CALIBRATION['temperature']:.3f}",)),
    (
        "validation coverage",
        r"held ({N} %) of faces before and\s+({N} %) after",
        lambda: tuple(percent(CALIBRATION[when]["interval_coverage"]) for when in ("before", "after")),
    ),
    ("test faces", r"On the ({N}) faces of our own UTKFace test split", lambda: (f"{TEST['n']:,}",)),
    ("18+ false accept", r"at 18\+: ({N} %)\)", lambda: (percent(check(18)["false_accept_rate"]),)),
    (
        "coverage",
        r"80 % interval covers ({N} %) of test faces",
        lambda: (percent(TEST["interval_coverage"]),),
    ),
    (
        "Challenge-25",
        r"\*\*({N} %)\*\* of\s+(\d+) faces",
        lambda: (
            percent(TEST["age_checks"]["challenge_25"]["rate"]),
            str(TEST["age_checks"]["challenge_25"]["n"]),
        ),
    ),
    (
        "MAE 13–30",
        r"\(NIST's headline range\): ({N}) years",
        lambda: (two_decimals(TEST["age_checks"]["mae_13_30_mean_of_years"]),),
    ),
]


def _quoted(text: str, page: str, what: str, pattern: str) -> tuple[str, ...]:
    found = re.search(pattern.replace("{N}", NUMBER), text)
    assert found, f"{page} no longer quotes the {what} as /{pattern}/: quote it, or update this test with it"
    return found.groups()


@pytest.mark.parametrize(("what", "pattern", "expected"), README_QUOTES, ids=[q[0] for q in README_QUOTES])
def test_readme_headline_figures(what: str, pattern: str, expected: Callable[[], tuple[str, ...]]) -> None:
    assert _quoted(README, "README.md", what, pattern) == expected()


@pytest.mark.parametrize(
    ("what", "pattern", "expected"), MODEL_CARD_QUOTES, ids=[q[0] for q in MODEL_CARD_QUOTES]
)
def test_model_card_figures(what: str, pattern: str, expected: Callable[[], tuple[str, ...]]) -> None:
    assert _quoted(MODEL_CARD, "docs/model-card.md", what, pattern) == expected()


@pytest.mark.parametrize(
    ("what", "pattern", "expected"), AGE_CHECKS_QUOTES, ids=[q[0] for q in AGE_CHECKS_QUOTES]
)
def test_age_check_figures(what: str, pattern: str, expected: Callable[[], tuple[str, ...]]) -> None:
    assert _quoted(AGE_CHECKS, "docs/age-checks.md", what, pattern) == expected()


@pytest.mark.parametrize(
    ("page", "table"),
    [("docs/model-card.md", accuracy), ("docs/model-card.md", groups), ("docs/age-checks.md", checks)],
    ids=["accuracy by age", "by label", "age checks"],
)
def test_tables_are_those_of_the_recorded_evaluation(page: str, table: Callable[[dict], list[str]]) -> None:
    text = (REPO / page).read_text()
    missing = [line for line in table(TEST) if line not in text]
    assert not missing, f"{page} lacks these rows of `python -m training card-tables`: {missing}"
