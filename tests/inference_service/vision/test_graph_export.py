"""A service on a compiled-graph engine never loads torch: the export runs in a child process.

Torch holds ~0.5 GB resident once imported (docs/performance.md); the graph engines
(`openvino-bf16`, `onnx`) need it only to export the ONNX graph from the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from inference_service.vision.checkpoint import CheckpointError
from inference_service.vision.graph_export import onnx_graph
from inference_service.vision.model_config import ModelConfig, preprocess

from ..server import CHECKPOINT, ServerProcess


def test_the_running_service_never_maps_torch(server: ServerProcess) -> None:
    """The session server runs `auto` on the CPU (openvino-bf16 or onnx): no libtorch in its memory."""
    maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
    assert "openvino" in maps or "onnxruntime" in maps
    assert "libtorch" not in maps and "libc10" not in maps


def test_the_child_exports_the_same_graph_the_process_would() -> None:
    """Exported in a child and in this process: the same network, logit for logit."""
    crops = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    inputs = preprocess(crops, ModelConfig(input_size=112))
    logits = [
        ort.InferenceSession(onnx_graph(CHECKPOINT, in_child=child)).run(None, {"input": inputs})[0]
        for child in (True, False)
    ]
    assert logits[0].shape == (3, 101) and np.array_equal(logits[0], logits[1])


def test_a_failed_export_says_why(tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(CHECKPOINT.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"exporting .* to ONNX failed: error: checkpoint"):
        onnx_graph(broken, in_child=True)
