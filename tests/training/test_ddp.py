"""Multi-process training as on several GPUs, here with torchrun, 2 processes and the gloo backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from training_testdata import REPO, TINY_TRAIN

from inference_service.vision.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow


def test_two_process_gloo_run_finishes_on_both_ranks(tiny_prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    overrides = [o for o in TINY_TRAIN if not o.startswith(("optim.epochs", "run.num_threads"))]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "training",
        "train",
        *overrides,
        "optim.epochs=1",
        "run.num_threads=1",
        "data.limit=64",
        "run.device=cpu",
        f"data.prepared={tiny_prepared}",
        f"run.out_dir={out}",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "rank 0/2 done" in output and "rank 1/2 done" in output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["epochs_run"] == 1
    assert "world 2" in (out / "train.log").read_text()
    _, meta = load_checkpoint(out / "best.safetensors")
    assert meta.data["train_size"] == 64
