"""The service as a process (`python -m inference_service`): bad startups exit non-zero with a clear
message; on a running server, a failing image is a 500 logged with its request id, a queue over its wait
bound is an immediate 503, and SIGTERM turns /ready false, then lets in-flight requests finish."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from .conftest import encode
from .faulty_server import FAULT_HEIGHT, FAULT_WIDTH
from .server import CHECKPOINT, DLIB, PHOTOS, REPO, ServerProcess, free_port, write_config

API_KEY = "test-key-5b1d"


def _mismatched_checkpoint(path: Path) -> Path:
    """The shipped tensors under metadata that describes a different head size."""
    with safe_open(str(CHECKPOINT), framework="pt") as handle:
        metadata = dict(handle.metadata())
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 - safe_open is not a dict
    card = json.loads(metadata["age_estimator"])
    card["model"]["age_max"] = card["model"]["age_max"] - 20  # fc would need 20 fewer outputs
    metadata["age_estimator"] = json.dumps(card)
    save_file(tensors, str(path), metadata=metadata)
    return path


def test_bad_startups_exit_nonzero_with_a_clear_message(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(os.urandom(4096))
    missing_cuda = "cuda:99" if torch.cuda.is_available() else "cuda"
    stale = tmp_path / "stale.json"
    stale.write_text(
        json.dumps(
            {
                "format": "age-ensemble/1",
                "name": "stale",
                "version": "0.0.1",
                "members": [{"path": str(CHECKPOINT), "sha256": "0" * 64, "weight": 1.0}],
            }
        )
    )
    cases = {
        "ensemble": ({"age_model": {"path": str(stale)}}, "not the file the ensemble recorded"),
        "missing": ({"age_model": {"path": str(tmp_path / "absent.safetensors")}}, "checkpoint not found"),
        "corrupt": ({"age_model": {"path": str(corrupt)}}, "not a readable safetensors file"),
        "mismatch": (
            {"age_model": {"path": str(_mismatched_checkpoint(tmp_path / "mismatch.safetensors"))}},
            "does not match its metadata",
        ),
        "cuda": ({"age_model": {"path": str(CHECKPOINT)}, "device": missing_cuda}, "CUDA"),
        "bad-config": (
            {"age_model": {"path": str(CHECKPOINT)}, "detector": {"max_faces": "many"}},
            "invalid configuration",
        ),
    }
    processes = {}
    for name, (values, _) in cases.items():  # started together: each pays the import of torch
        config = write_config(tmp_path / f"{name}.cfg", **values)
        processes[name] = ServerProcess.service(config, tmp_path / f"{name}.log")
    results = {}
    try:
        for name, proc in processes.items():
            results[name] = (proc.proc.wait(timeout=120), proc.log())
    finally:
        for proc in processes.values():
            proc.stop()  # never leave a server behind, even when one hangs
    for name, (_, message) in cases.items():
        code, log = results[name]
        assert code != 0, (name, log)
        assert message in log, (name, log)
        assert "Traceback" not in log, (name, log)


def test_torch_free_says_whether_serving_needs_torch(tmp_path: Path) -> None:
    """`make run` installs torch only when this exits 1: no graph is ready for the engine chosen here."""
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(CHECKPOINT.read_bytes())
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "empty-cache")}

    def status(engine: str) -> int:
        config = write_config(
            tmp_path / f"{engine}.cfg", age_model={"path": str(checkpoint), "engine": engine}
        )
        command = [sys.executable, "-m", "inference_service", "--config", str(config), "--torch-free"]
        return subprocess.run(command, env=env, cwd=REPO, capture_output=True, timeout=120).returncode

    assert status("torch") == 1 and status("onnx") == 1  # torch itself, or torch to export the graph
    checkpoint.with_suffix(".onnx").write_bytes(b"a graph made elsewhere")  # only its presence counts here
    assert status("onnx") == 0 and status("openvino-bf16") == 0 and status("torch") == 1


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real app with a detector that fails on 37x23 images, an API key and a queue that admits only
    what would start within 10 ms."""
    folder = tmp_path_factory.mktemp("faulty")
    config = write_config(
        folder / "service.cfg",
        device="cpu",
        age_model={"path": str(CHECKPOINT), "flip": False},
        detector={"max_faces": 10},
        max_queue_wait_s=0.01,
        drain_s=3.0,
        frontend_dir=str(folder / "no-frontend"),
    )
    port = free_port()
    args = ["-m", "tests.inference_service.faulty_server", "--config", str(config), "--port", str(port)]
    proc = ServerProcess(args, folder / "faulty.log", env={"AGE_API_KEY": API_KEY}, port=port)
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def _post(server: ServerProcess, data: bytes, key: str | None = API_KEY) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    files = {"file": ("x.png", data, "image/png")}
    return httpx.post(server.url + "/predict", files=files, headers=headers, timeout=120)


def test_model_error_is_a_500_for_that_request_only(faulty: ServerProcess) -> None:
    bad = encode(Image.new("RGB", (FAULT_WIDTH, FAULT_HEIGHT), (90, 90, 90)), "PNG")
    response = _post(faulty, bad)
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert request_id in response.json()["detail"]
    assert "injected" not in response.text  # internals stay in the log
    logged = [json.loads(line) for line in faulty.log().splitlines() if line.startswith("{")]
    assert any(
        e.get("request_id") == request_id and "injected detector fault" in e.get("exception", "")
        for e in logged
    )
    following = _post(faulty, (DLIB / "2008_001009.jpg").read_bytes())
    assert following.status_code == 200 and len(following.json()["faces"]) == 2


def _metric(server: ServerProcess, sample: str) -> float:
    """One sample of GET /metrics (0 when the series has not appeared yet)."""
    for line in httpx.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _batch_in_background(
    server: ServerProcess, count: int, folder: Path = DLIB, pattern: str = "20*.jpg"
) -> tuple[threading.Thread, dict[str, httpx.Response]]:
    """A /predict/batch of `count` photos on its own thread; its response lands in the dict."""
    paths = sorted(folder.glob(pattern))[:count]
    photos = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
    result: dict[str, httpx.Response] = {}

    def run() -> None:
        result["response"] = httpx.post(
            server.url + "/predict/batch", files=photos, headers={"X-API-Key": API_KEY}, timeout=300
        )

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_overload_answers_503_with_retry_after_at_once(faulty: ServerProcess) -> None:
    """max_queue_wait_s = 0.01: while a batch's image is computed, the next request is refused at once.
    The batch is of 1920 px phone photos, each tens of milliseconds of work even on int8, so the looks
    (one every few milliseconds) meet one being computed. The looks start once the batch is admitted."""
    refused_before = _metric(faulty, 'age_requests_refused_total{reason="queue_wait"}')
    thread, slow = _batch_in_background(faulty, 8, PHOTOS / "pexels", "*.jpg")
    while thread.is_alive() and _metric(faulty, "age_images_in_flight") < 1:
        time.sleep(0.002)  # a look before the batch is admitted could make the batch the refused one
    refused = None
    refusals = 0
    tiny = encode(Image.new("RGB", (8, 8)), "PNG")
    while thread.is_alive() and refused is None:
        time.sleep(0.002)  # many looks: the queue is empty between the batch's images
        started = time.perf_counter()
        response = _post(faulty, tiny)
        if response.status_code == 503:
            refused = (response, time.perf_counter() - started)
            refusals += 1
    thread.join()
    assert _metric(faulty, 'age_requests_refused_total{reason="queue_wait"}') == refused_before + refusals
    assert slow["response"].status_code == 200
    assert refused is not None, "no request was refused while the slow one ran"
    response, seconds = refused
    assert int(response.headers["retry-after"]) >= 1  # the seconds until the queue has room
    assert seconds < 2.0
    assert _post(faulty, tiny).status_code == 200  # capacity comes back


def test_sigterm_turns_readiness_false_then_lets_in_flight_requests_finish(
    faulty: ServerProcess,
) -> None:
    """Runs last in this module: it stops the server."""
    thread, result = _batch_in_background(faulty, 6)
    time.sleep(1.5)  # the batch is being processed
    faulty.proc.terminate()
    time.sleep(0.3)  # inside drain_s: readiness has turned false, and the server still accepts
    ready = httpx.get(faulty.url + "/ready", timeout=10)
    assert ready.status_code == 503 and "shutting down" in ready.json()["detail"]
    assert httpx.get(faulty.url + "/health", timeout=10).status_code == 200
    thread.join(timeout=300)
    code = faulty.proc.wait(timeout=60)
    assert result["response"].status_code == 200
    assert [r["status"] for r in result["response"].json()["results"]] == [200] * 6
    assert code == 0
    assert '"event": "draining"' in faulty.log() and "shut down cleanly" in faulty.log()
