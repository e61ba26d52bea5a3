"""An ensemble file is a model: its members load with their checks, share one alignment, and pool."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inference_service.vision.align import resize_crops
from inference_service.vision.checkpoint import CheckpointError, read_metadata
from inference_service.vision.engines import file_sha256
from inference_service.vision.ensemble import EnsembleEstimator, EnsembleSpec, pool
from inference_service.vision.estimator import AgeEstimator
from inference_service.vision.options import AgeModelOptions
from inference_service.vision.pipeline import build_estimator

from ..server import CHECKPOINT


def small_member(folder: Path, name: str, **changes: object) -> Path:
    """A randomly initialised MobileNetV2 checkpoint at 64 px (the members' architecture, made small)."""
    from inference_service.vision.age_model import build_model
    from inference_service.vision.checkpoint import CheckpointMetadata, save_checkpoint

    cfg = replace(read_metadata(CHECKPOINT).model, arch="mobilenet_v2", input_size=64, temperature=1.3)
    cfg = replace(cfg, **changes)
    return save_checkpoint(folder / name, build_model(cfg), CheckpointMetadata(model=cfg, name=name))


def ensemble_file(folder: Path, chosen: list[tuple[Path, float]], **fields: object) -> Path:
    path = folder / "ensemble.json"
    listed = [
        {"path": os.path.relpath(file, folder), "sha256": file_sha256(file), "weight": weight}
        for file, weight in chosen
    ]
    spec = {"format": "age-ensemble/1", "name": "test-ensemble", "version": "0.0.1", "members": listed}
    path.write_text(json.dumps({**spec, "rule": "mean", "temperature": 1.1, **fields}))
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ensemble")
    return ensemble_file(folder, [(CHECKPOINT, 0.6), (small_member(folder, "small.safetensors"), 0.4)])


def test_each_member_reads_one_alignment_at_its_own_size(pair: Path, real_crops: np.ndarray) -> None:
    ensemble = build_estimator(AgeModelOptions(path=pair, engine="onnx"), "cpu")
    assert isinstance(ensemble, EnsembleEstimator)
    assert ensemble.model_config.input_size == 112 and ensemble.model_config.temperature == 1.1
    out = ensemble.predict_crops(real_crops)
    members = [
        AgeEstimator.from_checkpoint(m, device="cpu", engine="onnx")
        for m in (CHECKPOINT, pair.parent / "small.safetensors")
    ]
    logits = [m.predict_logits(resize_crops(real_crops, m.model_config.input_size)) for m in members]
    expected = pool(logits, [m.model_config for m in members], [0.6, 0.4], "mean")
    assert np.allclose(ensemble.predict_logits(real_crops), expected, atol=1e-5)
    assert out.probabilities.shape == (len(real_crops), 101)
    assert np.allclose(out.probabilities.sum(axis=1), 1, atol=1e-4)
    assert np.all(out.interval[:, 0] <= out.age) and np.all(out.age <= out.interval[:, 1])


def test_the_model_card_lists_the_members(pair: Path) -> None:
    card = build_estimator(AgeModelOptions(path=pair, engine="onnx"), "cpu").describe()
    assert (card["name"], card["version"], card["format"]) == ("test-ensemble", "0.0.1", "age-ensemble/1")
    assert [m["weight"] for m in card["members"]] == [0.6, 0.4]
    assert card["members"][0]["version"] == read_metadata(CHECKPOINT).version
    assert card["members"][1]["model"]["input_size"] == 64 and card["engine"] == "onnx"


def test_pooling_identical_members_changes_nothing(real_crops: np.ndarray, plain: AgeEstimator) -> None:
    logits = plain.predict_logits(real_crops[:4])
    cfg = plain.model_config
    member = pool([logits], [cfg], [1.0], "mean")
    for rule in ("mean", "product"):
        assert np.allclose(pool([logits, logits], [cfg, cfg], [0.3, 0.7], rule), member, atol=1e-4)


def test_a_member_file_that_changed_is_refused(tmp_path: Path) -> None:
    member = small_member(tmp_path, "a.safetensors")
    path = ensemble_file(tmp_path, [(member, 1.0)])
    small_member(tmp_path, "a.safetensors", temperature=0.9)  # the same name, other bytes
    with pytest.raises(CheckpointError, match="not the file the ensemble recorded"):
        EnsembleEstimator.from_options(AgeModelOptions(path=path, engine="onnx"), "cpu")


def test_members_with_different_templates_are_refused(tmp_path: Path) -> None:
    moved = tuple((x + 0.01, y) for x, y in read_metadata(CHECKPOINT).model.template)
    members = [
        (small_member(tmp_path, "a.safetensors"), 0.5),
        (small_member(tmp_path, "b.safetensors", template=moved), 0.5),
    ]
    path = ensemble_file(tmp_path, members)
    with pytest.raises(CheckpointError, match="differ in template"):
        EnsembleSpec.read(path).member_files(path)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rule": "median"}, "rule 'median' is unknown"),
        ({"members": []}, "at least one member"),
        ({"temperature": 0}, "out of range"),
        ({"format": "age-estimator/1"}, "not an ensemble file"),
    ],
)
def test_a_bad_ensemble_file_is_a_clear_error(tmp_path: Path, fields: dict, message: str) -> None:
    path = ensemble_file(tmp_path, [(small_member(tmp_path, "a.safetensors"), 1.0)], **fields)
    with pytest.raises(CheckpointError, match=message):
        EnsembleSpec.read(path)


def test_weights_must_be_positive_and_sum_to_one(tmp_path: Path) -> None:
    members = [(small_member(tmp_path, "a.safetensors"), 0.7), (CHECKPOINT, 0.7)]
    with pytest.raises(CheckpointError, match="sum to 1"):
        EnsembleSpec.read(ensemble_file(tmp_path, members))
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not readable JSON"):
        EnsembleSpec.read(tmp_path / "broken.json")
