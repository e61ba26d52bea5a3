"""The age network as a prebuilt ONNX graph: the file the graph engines (ONNX Runtime, OpenVINO) compile.

Exporting needs torch, which a service on those engines never loads (~0.5 GB resident, and
~6 GB of wheels in an image). So the graph is an artifact, made by `python -m training export`:
at image build time (Dockerfile.cpu's builder stage puts it beside the checkpoint), or, when
running from a checkout, on the first start of a checkpoint into a cache folder outside the
repository, keyed by the checkpoint's sha256. The graph records that sha256 in its metadata,
and `check_recorded` refuses a graph made from other weights. Everything else (preprocessing,
calibration) is still read from the checkpoint: one source of truth.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .checkpoint import CheckpointError

if TYPE_CHECKING:
    from torch import nn

SHA256_KEY = "age_estimator.checkpoint_sha256"  # an ONNX metadata_props key: the checkpoint it came from
CACHE_NAME = "age-estimator"
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


def beside(checkpoint: Path) -> Path:
    """Where a prebuilt graph of `checkpoint` is looked for first (the image puts it there)."""
    return checkpoint.with_suffix(".onnx")


def cache_dir() -> Path:
    """The XDG cache folder of this project: `$XDG_CACHE_HOME/age-estimator`, else `~/.cache/age-estimator`.

    Only graphs derived from checkpoints go there, never anything a user sent.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # the spec ignores relative paths
    return base / CACHE_NAME


def cached(sha256: str) -> Path:
    return cache_dir() / "graphs" / f"{sha256}.onnx"


def graph_for(checkpoint: Path, sha256: str) -> Path:
    """The checkpoint's graph: the prebuilt one beside it, else the cached one, exported on first use."""
    for path in (beside(checkpoint), cached(sha256)):
        if path.is_file():
            return path
    return make_graph(checkpoint, cached(sha256))


def make_graph(checkpoint: Path, out: Path) -> Path:
    """Export `checkpoint` to `out`: `python -m training export` in a child process, where torch stays."""
    if importlib.util.find_spec("torch") is None:
        raise CheckpointError(
            f"no ONNX graph for {checkpoint} (looked for {beside(checkpoint)} and {out}), and torch, which "
            f"makes one, is not installed here: run `python -m training export --checkpoint {checkpoint} "
            f"--out {beside(checkpoint)}` where the `export` extra is installed"
        )
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "training", "export", "--checkpoint", str(checkpoint), "--out", str(out)]
    try:
        done = subprocess.run(command, capture_output=True, env=env, timeout=EXPORT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise CheckpointError(f"exporting {checkpoint} to ONNX took over {EXPORT_TIMEOUT_S} s") from None
    if done.returncode != 0 or not out.is_file():
        lines = done.stderr.decode(errors="replace").strip().splitlines() or [
            f"exit status {done.returncode}"
        ]
        raise CheckpointError(f"exporting {checkpoint} to ONNX failed: {lines[-1]}")
    return out


def check_recorded(graph: Path, recorded: str | None, checkpoint: Path, sha256: str) -> None:
    """Refuse a graph that does not record `sha256`, the checkpoint being served: its weights differ."""
    remake = f"make it again with `python -m training export --checkpoint {checkpoint} --out {graph}`"
    if not recorded:
        raise CheckpointError(f"{graph} does not record which checkpoint it was exported from; {remake}")
    if recorded != sha256:
        raise CheckpointError(
            f"{graph} was exported from other weights (sha256 {recorded[:12]}…) than {checkpoint} "
            f"(sha256 {sha256[:12]}…); {remake}"
        )
