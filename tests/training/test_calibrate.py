"""Temperature scaling finds the temperature that generated the ages, and survives the checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from inference_service.vision.age_model import build_model
from inference_service.vision.checkpoint import (
    CheckpointMetadata,
    read_metadata,
    rewrite_metadata,
    save_checkpoint,
)
from inference_service.vision.model_config import ModelConfig
from training.calibrate import fit_temperature


def test_fit_recovers_an_overconfident_models_temperature() -> None:
    cfg = ModelConfig()
    generator = torch.Generator().manual_seed(0)
    true_logits = torch.randn(3000, cfg.num_bins, generator=generator) * 2.5
    ages = torch.multinomial(true_logits.softmax(1), 1, generator=generator).flatten().float()
    fitted = fit_temperature(true_logits * 2.0, ages, cfg)  # twice too sharp: the fit should undo it
    assert abs(fitted - 2.0) < 0.15


def test_calibration_round_trips_through_the_checkpoint(tmp_path: Path) -> None:
    cfg = ModelConfig(input_size=32)
    path = save_checkpoint(tmp_path / "m.safetensors", build_model(cfg), CheckpointMetadata(model=cfg))
    meta = read_metadata(path)
    meta.model = ModelConfig.from_dict({**meta.model.to_dict(), "temperature": 0.87})
    meta.metrics = {"calibration": {"temperature": 0.87}}
    rewrite_metadata(path, meta, tmp_path / "c.safetensors")
    again = read_metadata(tmp_path / "c.safetensors")
    assert again.model.temperature == 0.87 and again.metrics["calibration"]["temperature"] == 0.87
    from safetensors.torch import load_file

    before, after = load_file(path), load_file(tmp_path / "c.safetensors")
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
