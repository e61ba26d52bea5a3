"""Session fixtures of the training tests: a tiny real UTKFace subset, prepared once."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_testdata import link_chips, run_cli, stratified_chips


@pytest.fixture(scope="session")
def tiny_chips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 real chips covering ages 1-116."""
    return link_chips(tmp_path_factory.mktemp("chips") / "utkface", stratified_chips(200))


@pytest.fixture(scope="session")
def tiny_prepared(tiny_chips: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 200 chips detected, aligned and split by `python -m training prepare`."""
    out = tmp_path_factory.mktemp("prepared") / "tiny"
    run_cli(
        "prepare",
        "--source",
        "utkface",
        "--input",
        str(tiny_chips),
        "--out",
        str(out),
        "--size",
        "48",
        "--val-fraction",
        "0.15",
        "--test-fraction",
        "0.15",
        "--workers",
        "2",
        "--quiet",
    )
    return out
