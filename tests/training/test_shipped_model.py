"""The shipped model (the service's default `age_model.path`: one checkpoint, or an ensemble file whose
first member is the product's ResNet-50) loads, describes itself as the service expects, and scores as
its card says.

models/model-card.json holds the figure the model card (docs/model-card.md) quotes: MAE on the 300
age-stratified chips of our own test split listed in models/test-300.txt, measured
through detect + align + predict (the service's path). Replace both when the model changes.
"""

from __future__ import annotations

import json
import re

import pytest
from training_testdata import REPO, UTKFACE

from inference_service.vision.checkpoint import load_checkpoint, read_metadata
from inference_service.vision.ensemble import model_files, read_model_metadata
from inference_service.vision.options import AgeModelOptions
from training.evaluate import evaluate_photos, read_name_list, select
from training.sources.utkface import iter_samples

pytestmark = pytest.mark.slow
SHIPPED = REPO / AgeModelOptions().path
CHECKPOINT = model_files(SHIPPED)[0]  # the ResNet-50: the model itself, or the ensemble's first member
CARD = json.loads((REPO / "models" / "model-card.json").read_text())
TEST_LIST = REPO / "models" / "test-300.txt"


def test_shipped_checkpoint_loads_with_sane_metadata() -> None:
    assert CHECKPOINT.stat().st_size < 50 * 10**6
    model, meta = load_checkpoint(CHECKPOINT)
    cfg = meta.model
    assert cfg.arch == "resnet50" and cfg.head == "bins"
    assert 32 <= cfg.input_size <= 256 and cfg.input_size % 8 == 0
    assert all(0 < m < 1 for m in cfg.mean) and all(0 < s < 1 for s in cfg.std)
    xs = [x for x, _ in cfg.template]
    ys = [y for _, y in cfg.template]
    assert all(0 < v < 1 for v in xs + ys)
    assert xs[0] < xs[2] < xs[1] and xs[3] < xs[4] and ys[0] < ys[2] < ys[3]  # eyes, nose, mouth in order
    assert (cfg.age_min, cfg.age_max) == (0, 100) and 0 < cfg.interval_mass < 1
    assert sum(p.numel() for p in model.parameters()) > 23_000_000
    shipped = read_model_metadata(SHIPPED)
    assert re.fullmatch(r"\d+\.\d+\.\d+([-+][\w.-]+)?", shipped.version), shipped.version
    assert shipped.version == CARD["model_version"], "models/model-card.json describes another model"


def test_test_list_is_fixed_stratified_and_from_the_test_split() -> None:
    names = read_name_list(TEST_LIST)
    assert len(names) == len(set(names)) == 300
    ages = sorted(int(re.match(r"\s*(\d+)", n).group(1)) for n in names)
    assert ages[0] <= 2 and ages[-1] >= 80 and sum(a <= 12 for a in ages) >= 30
    trained_on = read_metadata(CHECKPOINT).data.get("prepared")
    assert trained_on is None or "utkface" in trained_on


def test_mae_on_the_fixed_300_chips_matches_the_model_card() -> None:
    samples = select(iter_samples(UTKFACE), read_name_list(TEST_LIST))
    result = evaluate_photos(SHIPPED, samples, device="cpu")
    assert result["no_face"] == 0 and result["n"] == 300
    assert result["mae"] == pytest.approx(CARD["test300_mae"], abs=0.3), result


def test_the_shipped_model_is_calibrated_and_carries_its_test_figures() -> None:
    """GET /model serves these: calibration, age-check error rates and the per-label table."""
    meta = read_model_metadata(SHIPPED)
    calibration = meta.metrics["calibration"]
    assert calibration["split"] == "val" and meta.model.temperature == calibration["temperature"] != 1.0
    assert 0.78 <= calibration["after"]["interval_coverage"] <= 0.82
    test = meta.metrics["test"]
    assert test["split"] == "test" and test["n"] == 2075 and "--checks 13,18,21,25" in test["measured_with"]
    assert set(test["age_checks"]["thresholds"]) == {"13", "18", "21", "25"}
    for dimension in ("gender", "ethnicity"):
        assert test["by_label"][dimension]["adults_20_59"]["cells"]
    assert test["mae"] == pytest.approx(CARD["test_mae"], abs=1e-3)


def test_every_network_of_the_shipped_model_carries_its_own_figures() -> None:
    """GET /model lists an ensemble's members with their own figures; the ResNet-50 is always one of them,
    and the model served is at least as good on the test split as the ResNet-50 alone."""
    files = model_files(SHIPPED)
    assert files[0] == CHECKPOINT and read_metadata(CHECKPOINT).model.arch == "resnet50"
    for file in files:
        meta = read_metadata(file)
        assert meta.metrics["test"]["n"] == 2075 and meta.metrics["calibration"]["split"] == "val", file
        if meta.model.arch == "mobilenet_v2":
            assert file.stat().st_size < 10 * 10**6  # fp16 safetensors of a few MB
    alone = read_metadata(CHECKPOINT).metrics["test"]["mae"]
    assert read_model_metadata(SHIPPED).metrics["test"]["mae"] <= alone
