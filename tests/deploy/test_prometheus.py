"""Debian's real Prometheus scrapes the real service: the shipped config is valid, and the request
count it stores after a few predictions is exactly what was sent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.processes import free_port, stop_gracefully

REPO = Path(__file__).resolve().parents[2]
GROUP = REPO.parent / "shared" / "data" / "photos" / "pexels" / "pexels-andrea-piacquadio-2672979.jpg"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def wait_for(url: str, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args[:3]} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(url)


def test_the_shipped_prometheus_config_is_valid() -> None:
    assert Path(PROMTOOL).exists(), "run `make setup-prometheus`"
    result = subprocess.run(
        [PROMTOOL, "check", "config", str(REPO / "deploy" / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def scraped_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The service on a free port, and Prometheus scraping it every second."""
    assert Path(PROMETHEUS).exists(), "run `make setup-prometheus`"
    tmp = tmp_path_factory.mktemp("prometheus")
    api_port, prom_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGE_")}
    service = subprocess.Popen(
        [sys.executable, "-m", "inference_service", "--port", str(api_port)],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO), "AGE_DEVICE": "cpu", "AGE_AGE_MODEL__FLIP": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: age-estimator\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{api_port}']\n"
    )
    prometheus = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{api_port}/ready", 300, service)
        wait_for(f"http://127.0.0.1:{prom_port}/-/ready", 60, prometheus)
        yield f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{prom_port}"
    finally:
        stop_gracefully(prometheus)
        stop_gracefully(service)


def query(prometheus: str, expr: str) -> float | None:
    result = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()["data"][
        "result"
    ]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_stores_exactly_the_predictions_sent(scraped_service: tuple[str, str]) -> None:
    api, prometheus = scraped_service
    for _ in range(3):
        response = httpx.post(f"{api}/predict", files={"file": ("a.jpg", GROUP.read_bytes())}, timeout=120)
        assert response.status_code == 200
    expr = 'age_http_requests_total{route="/predict",status="200"}'
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and query(prometheus, expr) != 3:
        time.sleep(0.5)
    assert query(prometheus, expr) == 3
    assert query(prometheus, 'up{job="age-estimator"}') == 1
    assert query(prometheus, "age_faces_per_image_count") == 3
