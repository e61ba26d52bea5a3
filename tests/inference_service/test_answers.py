"""`python -m training predict --config` runs the service's own pipeline and serializer: the same answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from .server import PHOTOS, REPO

GROUP = PHOTOS / "pexels" / "pexels-andrea-piacquadio-2672979.jpg"


def test_cli_with_the_service_config_gives_the_service_answer(
    client: httpx.Client, service_tmp: Path
) -> None:
    files = {"file": (GROUP.name, GROUP.read_bytes(), "image/jpeg")}
    served = client.post("/predict", params={"thresholds": "18,25"}, files=files).json()
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
            "--thresholds",
            "18,25",
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
    assert record.pop("file") == str(GROUP)
    assert set(record.pop("timings_ms")) >= {"decode", "detect", "align", "age"}
    served.pop("timings_ms")
    assert len(served["faces"]) >= 4 and served["faces"][0]["age_checks"]
    assert record == served  # boxes clipped, ages, intervals, age checks, model, device: one serializer
