"""`python -m training export`: a checkpoint's network as the ONNX graph the service's graph engines run.

The service never exports: its image has no torch. This command makes the graph once, in
Dockerfile.cpu's builder stage, or on the first start of a checkpoint from a checkout (the
service runs it in a child process and caches the file: `inference_service/vision/graph_export.py`).
The graph records the checkpoint's sha256, so the service refuses a graph made from other
weights; preprocessing and calibration stay in the checkpoint. Before the file is written, the
graph's logits are compared with torch's on a random batch, so a faulty export fails here, not
in the service.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from inference_service.vision.checkpoint import CheckpointError, CheckpointMetadata, load_checkpoint
from inference_service.vision.engines import file_sha256
from inference_service.vision.graph_export import SHA256_KEY, beside, export_onnx

MAX_LOGIT_DIFF = 1e-3  # fp32 ONNX Runtime against fp32 torch: rounding only (measured ~1e-5)


def export_graph(checkpoint: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """Write the ONNX graph of `checkpoint` to `out` (default: beside it, `<stem>.onnx`); its figures."""
    started = time.monotonic()
    checkpoint = Path(checkpoint)
    out = Path(out) if out else beside(checkpoint)
    model, metadata = load_checkpoint(checkpoint)
    sha256 = file_sha256(checkpoint)
    graph = stamp(export_onnx(model, metadata.model.input_size), sha256, metadata)
    diff = max_logit_diff(model, graph, metadata.model.input_size)
    if diff > MAX_LOGIT_DIFF:
        raise CheckpointError(f"the ONNX graph of {checkpoint} differs from torch by {diff:.2g} in a logit")
    write_atomically(out, graph)
    return {
        "graph": str(out),
        "checkpoint_sha256": sha256,
        "model": f"{metadata.name} {metadata.version}",
        "mib": round(len(graph) / 2**20, 1),
        "max_logit_diff": diff,
        "seconds": round(time.monotonic() - started, 1),
    }


def stamp(graph: bytes, sha256: str, metadata: CheckpointMetadata) -> bytes:
    """The graph with the checkpoint's sha256 (and, for people, its name and version) in its metadata."""
    import onnx

    model = onnx.load_model_from_string(graph)
    onnx.helper.set_model_props(
        model, {SHA256_KEY: sha256, "age_estimator.model": f"{metadata.name} {metadata.version}"}
    )
    return model.SerializeToString()


def max_logit_diff(model: Any, graph: bytes, input_size: int) -> float:
    """Largest difference between the graph's logits (ONNX Runtime) and torch's on a random batch."""
    import onnxruntime as ort
    import torch

    inputs = np.random.default_rng(0).standard_normal((2, 3, input_size, input_size), dtype=np.float32)
    with torch.inference_mode():
        want = model(torch.from_numpy(inputs)).float().numpy()
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    return float(np.abs(session.run(None, {"input": inputs})[0] - want).max())


def write_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename: a reader (another service) never sees half a graph."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)  # a service running as another user reads it
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
