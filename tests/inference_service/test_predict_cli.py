"""`python -m training predict --config` runs the service's own pipeline: same faces, same ages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .server import PHOTOS, REPO

GROUP = PHOTOS / "pexels" / "pexels-andrea-piacquadio-2672979.jpg"


def test_cli_with_the_service_config_gives_the_service_answer(
    client: httpx.Client, service_tmp: Path
) -> None:
    served = client.post("/predict", files={"file": (GROUP.name, GROUP.read_bytes(), "image/jpeg")}).json()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "predict",
            "--config",
            str(service_tmp / "service.cfg"),
            "--format",
            "json",
            str(GROUP),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    (record,) = json.loads(result.stdout)
    assert len(record["faces"]) == len(served["faces"]) >= 4
    by_box = sorted(record["faces"], key=lambda f: f["box"][0])
    for cli, api in zip(by_box, sorted(served["faces"], key=lambda f: f["box"][0]), strict=True):
        assert cli["box"] == pytest.approx(api["box"], abs=0.11)
        assert cli["age"] == api["age"] and cli["age_interval"] == pytest.approx(api["age_interval"])
