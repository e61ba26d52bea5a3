"""Checkpoint files: what training writes, the service loads; anything inconsistent is refused clearly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from inference_service.vision.age_model import build_model
from inference_service.vision.checkpoint import (
    METADATA_KEY,
    CheckpointError,
    CheckpointMetadata,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from inference_service.vision.model_config import ModelConfig

from ..server import REPO


@pytest.fixture(scope="module")
def trained_like() -> tuple[torch.nn.Module, CheckpointMetadata]:
    torch.manual_seed(0)
    config = ModelConfig(head="bins", input_size=48)
    model = build_model(config).eval()
    for module in model.modules():  # non-trivial BatchNorm statistics, as after training
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    meta = CheckpointMetadata(
        model=config,
        name="test-model",
        version="9.9.9",
        metrics={"val_mae": 4.2},
        data={"train_size": 10},
        training_config={"optim": {"lr": 0.001}},
    )
    return model, meta


@pytest.fixture(scope="module")
def saved(trained_like: tuple, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, meta = trained_like
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.safetensors", model, meta)


def rewrite_metadata(source: Path, target: Path, change) -> Path:
    """The same tensors under edited metadata (as a stale or hand-edited file would be)."""
    with safe_open(str(source), framework="pt") as handle:
        data = json.loads(handle.metadata()[METADATA_KEY])
    change(data)
    save_file(load_file(str(source)), str(target), metadata={METADATA_KEY: json.dumps(data)})
    return target


def test_round_trip_fp16_keeps_config_metadata_and_predictions(trained_like: tuple, saved: Path) -> None:
    model, meta = trained_like
    loaded, loaded_meta = load_checkpoint(saved)
    assert loaded_meta.model == meta.model and loaded_meta.version == "9.9.9"
    assert loaded_meta.metrics == {"val_mae": 4.2} and loaded_meta.training_config == {"optim": {"lr": 0.001}}
    stored = load_file(str(saved))
    assert all(t.dtype == torch.float16 for k, t in stored.items() if t.is_floating_point())
    assert saved.stat().st_size < 50e6  # the shipped-size budget
    inputs = torch.randn(4, 3, 48, 48)
    with torch.no_grad():
        expected, got = model(inputs), loaded(inputs)
    assert torch.allclose(expected.softmax(1), got.softmax(1), atol=2e-3)


def test_fp32_round_trip_is_exact(trained_like: tuple, tmp_path: Path) -> None:
    model, meta = trained_like
    path = save_checkpoint(tmp_path / "fp32.safetensors", model, meta, fp16=False)
    loaded, _ = load_checkpoint(path)
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key


def test_a_checkpoint_of_a_removed_head_is_refused(saved: Path, tmp_path: Path) -> None:
    """Only the bins head exists; a file naming the old l1 or mse regression heads says so."""
    path = rewrite_metadata(saved, tmp_path / "l1.safetensors", lambda d: d["model"].update(head="l1"))
    with pytest.raises(CheckpointError, match=r"invalid: head 'l1' is not supported: only 'bins'"):
        load_checkpoint(path)


def test_shapes_must_match(saved: Path, tmp_path: Path) -> None:
    path = rewrite_metadata(saved, tmp_path / "range.safetensors", lambda d: d["model"].update(age_max=90))
    with pytest.raises(CheckpointError, match=r"fc.weight has shape \(101, 2048\).*needs \(91, 2048\)"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="other/2"), "unsupported checkpoint format"),
        (lambda d: d["model"].update(head="softmax"), "model metadata is invalid"),
        (lambda d: d["model"].update(input_size=4), "model metadata is invalid"),
        (lambda d: d["model"].pop("template"), "metadata lacks template"),
        (lambda d: d["model"].pop("mean"), "metadata lacks mean"),
    ],
)
def test_metadata_is_validated(saved: Path, tmp_path: Path, change, message: str) -> None:
    path = rewrite_metadata(saved, tmp_path / "edited.safetensors", change)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)
    assert read_metadata(saved).model.head == "bins"  # the original is untouched


def test_missing_corrupt_and_foreign_files(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(garbage)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(truncated)
    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, str(bare))
    with pytest.raises(CheckpointError, match="carries no 'age_estimator' metadata"):
        load_checkpoint(bare)


def test_cli_refuses_a_bad_checkpoint_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    result = subprocess.run(
        [sys.executable, "-m", "training", "predict", "--checkpoint", str(bad), str(REPO / "models")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2
    assert "error: checkpoint" in result.stderr and "Traceback" not in result.stderr
