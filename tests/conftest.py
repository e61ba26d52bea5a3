"""Every test log names the machine it proved: the CPU kind and the engine `auto` resolves to there.

The tests keep out of the real home: the graphs they export go to a temporary XDG cache
(`XDG_CACHE_HOME`, inherited by every service process they start), removed when they end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from inference_service.vision.checkpoint import read_metadata
from inference_service.vision.devices import cpu_info
from inference_service.vision.engines import Network, int8_first, resolve_engine

CHECKPOINT = Path(__file__).resolve().parents[1] / "models" / "age-resnet50.safetensors"
TEST_CACHE: list[str] = []  # the temporary XDG cache of this session, made in pytest_configure


def pytest_configure(config: pytest.Config) -> None:
    TEST_CACHE.append(tempfile.mkdtemp(prefix="age-estimator-test-cache-"))
    os.environ["XDG_CACHE_HOME"] = TEST_CACHE[-1]


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in TEST_CACHE:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_report_header() -> list[str]:
    cpu = cpu_info().describe()
    shipped = Network(read_metadata(CHECKPOINT), path=CHECKPOINT)
    auto = (
        "openvino-int8 (its graph is beside the shipped checkpoint)"
        if int8_first("auto", shipped, "cpu")
        else resolve_engine("auto", "cpu")
    )
    return [
        f"cpu: {cpu['model']} (kind {cpu['kind']}; flags {' '.join(cpu['flags']) or 'none of note'})",
        f"age engine for device=cpu, engine=auto: {auto}",
    ]
