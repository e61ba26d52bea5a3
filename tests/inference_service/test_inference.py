"""Loading the models (inference.ModelRuntime) in the background: a failure is fatal, /ready says so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from inference_service.settings import Settings
from inference_service.vision.pipeline import FacePipeline

from .conftest import LOAD_TIMEOUT_S, app_client, load_settings


def test_a_failed_load_is_fatal_and_ready_says_so(service_config: Path) -> None:
    def broken(settings: Settings) -> FacePipeline:
        raise RuntimeError("no weights here")

    with app_client(load_settings(service_config), broken, wait=False) as client:
        runtime = client.app.state.runtime
        runtime.wait_loaded(LOAD_TIMEOUT_S)
        assert runtime.state == "failed" and runtime.error == "RuntimeError: no weights here"
        assert client.fatal == ["RuntimeError: no weights here"]  # the process would be asked to exit
        response = client.get("/ready")
        assert response.status_code == 503
        assert response.json() == {"detail": "The models are not ready yet (state: failed)."}
        assert client.get("/health").status_code == 200


def test_default_thresholds_the_model_cannot_answer_are_refused_at_start_up(
    service_config: Path, pipelines: Callable[[Settings], FacePipeline]
) -> None:
    with app_client(load_settings(service_config, age_thresholds=[18, 150]), pipelines, wait=False) as client:
        runtime = client.app.state.runtime
        runtime.wait_loaded(LOAD_TIMEOUT_S)
        assert runtime.state == "failed" and runtime.worker is None
        (reason,) = client.fatal
        assert "150 is outside the model's age range 0..100" in reason


def test_a_loaded_runtime_describes_its_device_and_engine(client: TestClient) -> None:
    runtime = client.app.state.runtime
    assert runtime.ready and runtime.describe()["state"] == "ready" and runtime.describe()["device"] == "cpu"
    assert runtime.engine == runtime.pipeline.estimator.engine != "unknown"
    assert runtime.load_ms > 0
