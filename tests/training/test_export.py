"""`python -m training export`: the checkpoint's network as the ONNX graph the service runs, stamped with
the checkpoint's sha256 (the service refuses any other graph: see vision/test_graph_export.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from training_testdata import REPO, run_cli

from inference_service.vision.checkpoint import load_checkpoint, read_metadata
from inference_service.vision.engines import file_sha256
from inference_service.vision.graph_export import SHA256_KEY, beside
from training.export import MAX_LOGIT_DIFF

CHECKPOINT = REPO / "models" / "age-resnet50.safetensors"


def test_export_writes_a_stamped_graph_beside_the_checkpoint_that_computes_torchs_logits(
    tmp_path: Path,
) -> None:
    checkpoint = tmp_path / "model.safetensors"
    shutil.copyfile(CHECKPOINT, checkpoint)
    figures = json.loads(run_cli("export", "--checkpoint", str(checkpoint)).stdout.strip().splitlines()[-1])
    graph = beside(checkpoint)
    assert figures["graph"] == str(graph) and graph.is_file()
    assert figures["checkpoint_sha256"] == file_sha256(checkpoint)
    meta = read_metadata(checkpoint)
    assert figures["model"] == f"{meta.name} {meta.version}"  # the checkpoint's own name, not another's
    assert figures["max_logit_diff"] <= MAX_LOGIT_DIFF
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # written through a rename

    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map[SHA256_KEY] == file_sha256(checkpoint)
    model, metadata = load_checkpoint(checkpoint)
    size = metadata.model.input_size
    inputs = np.random.default_rng(1).standard_normal((3, 3, size, size), dtype=np.float32)
    with torch.inference_mode():
        want = model(torch.from_numpy(inputs)).numpy()
    assert np.abs(session.run(None, {"input": inputs})[0] - want).max() <= MAX_LOGIT_DIFF


def test_export_of_a_broken_checkpoint_fails_in_one_line(tmp_path: Path) -> None:
    from training.cli import main

    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(CHECKPOINT.read_bytes()[:5000])
    assert main(["export", "--checkpoint", str(broken), "--out", str(tmp_path / "graph.onnx")]) == 2
    assert not (tmp_path / "graph.onnx").exists()
