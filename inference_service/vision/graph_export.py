"""The age network as an in-memory ONNX graph, for the engines that compile one (ONNX Runtime, OpenVINO).

The graph is built from the checkpoint at every start, so there is no second model file
to keep in step with the weights. Exporting needs torch, which a service on those
engines otherwise never loads (~0.5 GB resident, docs/performance.md): `onnx_graph`
therefore exports in a short-lived child process and reads the graph from its standard
output, unless torch is already loaded in this process anyway (training, scripts).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .checkpoint import CheckpointError

if TYPE_CHECKING:
    from torch import nn

EXPORT_TIMEOUT_S = 600


def export_onnx(model: nn.Module, input_size: int) -> bytes:
    """The loaded network as ONNX bytes with a free batch dimension (float32 N x 3 x S x S in, logits out)."""
    import io
    import warnings

    import torch

    model = model.to(memory_format=torch.contiguous_format)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, input_size, input_size),),
            buffer,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
    return buffer.getvalue()


def onnx_graph(checkpoint: str | Path, in_child: bool | None = None) -> bytes:
    """The checkpoint's network as ONNX bytes, exported where torch costs this process nothing:
    in a child process unless torch is loaded here already (`in_child` forces either way)."""
    if not (("torch" not in sys.modules) if in_child is None else in_child):
        return _export(checkpoint)
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", __name__, str(checkpoint)],
            capture_output=True,
            env=env,
            timeout=EXPORT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CheckpointError(f"exporting {checkpoint} to ONNX took over {EXPORT_TIMEOUT_S} s") from None
    if done.returncode != 0 or not done.stdout:
        lines = done.stderr.decode(errors="replace").strip().splitlines() or [
            f"exit status {done.returncode}"
        ]
        raise CheckpointError(f"exporting {checkpoint} to ONNX failed: {lines[-1]}")
    return done.stdout


def _export(checkpoint: str | Path) -> bytes:
    from .checkpoint import load_checkpoint

    model, metadata = load_checkpoint(checkpoint)
    return export_onnx(model, metadata.model.input_size)


def main(argv: list[str] | None = None) -> int:
    """`python -m inference_service.vision.graph_export CHECKPOINT`: the ONNX graph on standard output."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m inference_service.vision.graph_export CHECKPOINT", file=sys.stderr)
        return 2
    try:
        graph = _export(args[0])
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(graph)
    return 0


if __name__ == "__main__":
    sys.exit(main())
