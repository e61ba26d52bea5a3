"""The whole workflow on real chips, on CPU: prepare, train (loss falls), evaluate, predict, resume."""

from __future__ import annotations

import csv
import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from training_testdata import DOGS, PORTRAIT, TINY_TRAIN, run_cli

from inference_service.vision.align import UTKFACE_TEMPLATE
from inference_service.vision.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tiny_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "tiny"
    run_cli(
        "train", *TINY_TRAIN, f"data.prepared={tiny_prepared}", f"run.out_dir={out}", "run.name=tiny-test"
    )
    return out


@pytest.fixture(scope="module")
def test_list(tiny_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with open(tiny_prepared / "index.csv", newline="") as handle:
        names = [row["original"] for row in csv.DictReader(handle) if row["split"] == "test"]
    assert len(names) >= 10
    path = tmp_path_factory.mktemp("lists") / "test.txt"
    path.write_text("\n".join(names) + "\n")
    return path


def test_prepared_set_is_aligned_and_split(tiny_prepared: Path) -> None:
    summary = json.loads((tiny_prepared / "summary.json").read_text())
    assert summary["images"] == 200 and summary["kept"] >= 195 and summary["duplicates_removed"] == 0
    assert (
        set(summary["split_sizes"]) == {"train", "val", "test"} and min(summary["split_sizes"].values()) >= 10
    )
    with open(tiny_prepared / "index.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len({row["file"] for row in rows}) == len(rows)
    with Image.open(tiny_prepared / rows[0]["file"]) as crop:
        assert crop.size == (48, 48)


def test_training_loss_falls_and_run_folder_is_complete(run_dir: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    losses = [row["train_loss"] for row in metrics["history"]]
    assert len(losses) == 5 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-2:]) / 2 < losses[0] - 0.1, losses  # robust to one noisy epoch
    assert metrics["best_epoch"] >= 1 and math.isfinite(metrics["best_val_mae"])
    config = tomllib.loads((run_dir / "config.toml").read_text())
    assert config["model"]["input_size"] == 32 and config["optim"]["epochs"] == 5
    for picture in ("curves.png", "samples.png", "calibration.png"):
        with Image.open(run_dir / picture) as image:
            assert image.format == "PNG" and image.size[0] > 300
    log = (run_dir / "train.log").read_text()
    assert log.count("val MAE") == 5
    assert "target: Gaussian soft labels, sigma 2 years" in log and "val group labels: " in log


def test_checkpoint_carries_what_the_service_needs(run_dir: Path) -> None:
    _model, meta = load_checkpoint(run_dir / "best.safetensors")
    assert meta.name == "tiny-test" and meta.model.input_size == 32 and meta.model.head == "bins"
    assert meta.model.template == UTKFACE_TEMPLATE
    assert meta.metrics["epoch"] >= 1 and meta.training_config["optim"]["epochs"] == 5
    assert meta.data["train_size"] > 100
    calibration = meta.metrics["calibration"]  # fitted on the validation split at the end of training
    assert calibration["split"] == "val" and meta.model.temperature == calibration["temperature"]
    assert calibration["after"]["nll"] <= calibration["before"]["nll"]


def test_evaluate_with_age_checks_and_record_them_for_the_model_card(
    run_dir: Path, tiny_prepared: Path, tmp_path: Path
) -> None:
    ckpt = tmp_path / "recorded.safetensors"
    ckpt.write_bytes((run_dir / "best.safetensors").read_bytes())
    args = ["evaluate", "--checkpoint", str(ckpt), "--prepared", str(tiny_prepared), "--split", "test"]
    report = json.loads(run_cli(*args, "--checks", "18,13", "--json", "--record", "test").stdout)
    checks = report["age_checks"]
    assert list(checks["thresholds"]) == ["13", "18"] and checks["confidence"] == 0.9
    for row in checks["thresholds"].values():
        for rate in ("false_accept_rate", "false_reject_rate", "uncertain_share", "ece"):
            assert row[rate] is None or 0 <= row[rate] <= 1
    assert 0 <= report["cs5"] <= 1 and "challenge_25" in checks and "mae_by_year_13_30" in checks
    recorded = load_checkpoint(ckpt)[1].metrics["test"]
    assert recorded["mae"] == report["mae"] and "--checks 18,13" in recorded["measured_with"]
    assert "Challenge-25" in run_cli(*args, "--checks", "18").stdout


def test_evaluate_raw_chips_through_detect_and_align(
    run_dir: Path, tiny_chips: Path, test_list: Path
) -> None:
    result = run_cli(
        "evaluate",
        "--checkpoint",
        str(run_dir / "best.safetensors"),
        "--source",
        "utkface",
        "--input",
        str(tiny_chips),
        "--files",
        str(test_list),
        "--json",
        "--device",
        "cpu",
    )
    report = json.loads(result.stdout)
    expected = len(test_list.read_text().split("\n")) - 1
    assert report["images"] == expected and report["n"] + report["no_face"] == expected
    assert 0 < report["mae"] < 60
    assert sum(g["n"] for g in report["groups"].values()) == report["n"]
    assert 0 <= report["interval_coverage"] <= 1


def test_evaluate_prepared_split_prints_a_table(run_dir: Path, tiny_prepared: Path) -> None:
    result = run_cli(
        "evaluate",
        "--checkpoint",
        str(run_dir / "best.safetensors"),
        "--prepared",
        str(tiny_prepared),
        "--split",
        "test",
    )
    assert "MAE" in result.stdout and "interval coverage" in result.stdout


def test_predict_photos_as_json_and_csv(run_dir: Path) -> None:
    ckpt = str(run_dir / "best.safetensors")
    records = json.loads(run_cli("predict", "--checkpoint", ckpt, "--format", "json", str(PORTRAIT)).stdout)
    (record,) = records
    assert record["file"] == str(PORTRAIT) and len(record["faces"]) >= 1
    with Image.open(PORTRAIT) as image:
        width, height = image.size
    for face in record["faces"]:
        x1, y1, x2, y2 = face["box"]
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert 0 <= face["age"] <= 100 and face["age_interval"][0] <= face["age"] <= face["age_interval"][1]
    rows = list(
        csv.DictReader(run_cli("predict", "--checkpoint", ckpt, str(PORTRAIT), str(DOGS)).stdout.splitlines())
    )
    assert {row["file"] for row in rows} == {str(PORTRAIT), str(DOGS)}
    assert all(row["age"] for row in rows if row["face"])


def test_a_stage_learns_from_a_teacher_checkpoint(run_dir: Path, tiny_prepared: Path, tmp_path: Path) -> None:
    """Self-distillation: the teacher's ages on the training faces are computed once and logged."""
    teacher = run_dir / "best.safetensors"
    out = tmp_path / "distilled"
    run_cli(
        "train",
        *TINY_TRAIN,
        "optim.epochs=1",
        f"model.init={teacher}",
        f"optim.distill_from={teacher}",
        "optim.distill_weight=0.5",
        f"data.prepared={tiny_prepared}",
        f"run.out_dir={out}",
    )
    log = (out / "train.log").read_text()
    assert f"teacher {teacher}: train MAE" in log
    assert math.isfinite(json.loads((out / "metrics.json").read_text())["best_val_mae"])


def test_a_stage_learns_from_a_teacher_on_its_own_mixed_views(
    run_dir: Path, tiny_prepared: Path, tmp_path: Path
) -> None:
    """Consistent teaching with mixup: no start-up pass over the training set, the teacher runs per step."""
    teacher = run_dir / "best.safetensors"
    out = tmp_path / "consistent"
    run_cli(
        "train",
        *TINY_TRAIN,
        "optim.epochs=1",
        f"model.init={teacher}",
        f"optim.distill_from={teacher}",
        "optim.distill_weight=0.8",
        "optim.distill_views=augmented",
        "optim.mixup_alpha=0.4",
        f"data.prepared={tiny_prepared}",
        f"run.out_dir={out}",
    )
    log = (out / "train.log").read_text()
    assert "teachers' distributions on the student's own augmented views" in log
    assert "train MAE" not in log
    assert math.isfinite(json.loads((out / "metrics.json").read_text())["best_val_mae"])


def test_teacher_distributions_are_cached_by_faces_and_teacher(
    run_dir: Path, tiny_prepared: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A second run with the same teacher on the same faces reads them instead of running the teacher."""
    import logging

    import numpy as np

    from inference_service.vision.model_config import ModelConfig
    from training.config import DataConfig
    from training.data import load_split
    from training.targets import teacher_distribution

    teacher, data = str(run_dir / "best.safetensors"), DataConfig(prepared=str(tiny_prepared))
    faces, cfg = load_split(data.prepared, "train", 32), ModelConfig(input_size=32)
    caplog.set_level(logging.INFO, logger="training")
    first = teacher_distribution(teacher, faces, data, cfg, "cpu")
    again = teacher_distribution(teacher, faces, data, cfg, "cpu")
    assert np.array_equal(first, again) and first.shape == (len(faces), cfg.num_bins)
    assert "distributions read from" in caplog.text and len(list((tiny_prepared / "cache").iterdir())) >= 1
    fewer = load_split(data.prepared, "train", 32, limit=20)  # other faces: another key, run again
    assert teacher_distribution(teacher, fewer, data, cfg, "cpu").shape == (20, cfg.num_bins)


def test_resume_continues_the_same_run(run_dir: Path, tiny_prepared: Path) -> None:
    run_cli(
        "train",
        *TINY_TRAIN,
        "optim.epochs=6",
        f"data.prepared={tiny_prepared}",
        f"run.out_dir={run_dir}",
        "run.name=tiny-test",
        "--resume",
    )
    history = json.loads((run_dir / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    assert "resumed after epoch 5" in (run_dir / "train.log").read_text()


def _train_tiny_mobilenet(prepared: Path, out: Path) -> None:
    """One epoch of an ImageNet MobileNetV2 on the tiny set (a teacher, or an ensemble member)."""
    run_cli(
        "train",
        *TINY_TRAIN,
        "optim.epochs=1",
        "model.arch=mobilenet_v2",
        "model.init=imagenet-offline",
        f"data.prepared={prepared}",
        f"run.out_dir={out}",
    )


def test_a_mobilenet_v2_teacher_trains_from_imagenet_and_is_served_by_a_graph_engine(
    tiny_prepared: Path, tmp_path: Path
) -> None:
    """model.arch = mobilenet_v2 from the offline ImageNet weights: the same checkpoint format and serving."""
    from inference_service.vision.estimator import AgeEstimator

    out = tmp_path / "teacher"
    _train_tiny_mobilenet(tiny_prepared, out)
    _model, meta = load_checkpoint(out / "best.safetensors")
    assert meta.model.arch == "mobilenet_v2" and meta.model.mean == (0.485, 0.456, 0.406)
    estimator = AgeEstimator.from_checkpoint(out / "best.safetensors", device="cpu", engine="onnx")
    crops = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    ages = estimator.predict_crops(crops).age
    reference = AgeEstimator.from_checkpoint(out / "best.safetensors", device="cpu", engine="torch")
    assert np.abs(ages - reference.predict_crops(crops).age).max() < 0.05


def test_quantize_writes_an_int8_graph_that_the_int8_engine_serves(
    run_dir: Path, tiny_prepared: Path, tmp_path: Path
) -> None:
    """NNCF on the real exported network; the graph lands beside the checkpoint with its own temperature."""
    import shutil

    from inference_service.vision.engines import Int8Graph
    from inference_service.vision.estimator import AgeEstimator
    from training.data import load_split

    checkpoint = tmp_path / "tiny.safetensors"
    shutil.copyfile(run_dir / "best.safetensors", checkpoint)
    printed = run_cli(
        "quantize",
        "--checkpoint",
        str(checkpoint),
        "--prepared",
        str(tiny_prepared),
        "--calibration-faces",
        "64",
        "--control-faces",
        "32",
        "--max-move",
        "10",
    )
    figures = json.loads(printed.stdout.strip().splitlines()[-1])
    assert Path(figures["graph"]) == Int8Graph.beside(checkpoint) and Int8Graph.beside(checkpoint).is_file()
    int8 = AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine="openvino-int8")
    assert int8.model_config.temperature == figures["temperature"]
    crops = load_split(str(tiny_prepared), "val", 32).images  # real faces, as calibrated on
    fp32 = AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine="torch").predict_crops(crops).age
    moved = np.abs(int8.predict_crops(crops).age - fp32)
    # This barely trained 32 px model moved 0.76 year on average here; broken quantization moves decades.
    assert moved.mean() < 2.0


def test_an_ensemble_is_fitted_on_validation_and_scored_on_test(
    run_dir: Path, tiny_prepared: Path, tmp_path: Path
) -> None:
    """`python -m training ensemble`: weights, rule and temperature from validation, test figures recorded,
    and `evaluate` on the written file gives the recorded test figure."""
    member = tmp_path / "mobilenet"
    _train_tiny_mobilenet(tiny_prepared, member)
    out = tmp_path / "ensemble.json"
    members = [str(run_dir / "best.safetensors"), str(member / "best.safetensors")]
    printed = run_cli(
        "ensemble", *members, "--prepared", str(tiny_prepared), "--out", str(out), "--version", "0.0.1"
    )
    fitted = json.loads(printed.stdout.strip().splitlines()[-1])
    assert sum(fitted["weights"]) == pytest.approx(1) and min(fitted["weights"]) > 0
    tried = fitted["combinations_tried"]
    assert [len(row["members"]) for row in tried] == [1, 1, 2, 2] and {row["rule"] for row in tried[2:]} == {
        "mean",
        "product",
    }
    best_pair = min(row["val_mae"] for row in tried[2:])
    assert fitted["val_mae"] == pytest.approx(best_pair, abs=1e-3)
    recorded = json.loads(out.read_text())
    assert recorded["metrics"]["test"]["n"] >= 10 and recorded["temperature"] == fitted["temperature"]
    again = run_cli(
        "evaluate", "--checkpoint", str(out), "--prepared", str(tiny_prepared), "--engine", "torch", "--json"
    )
    assert json.loads(again.stdout)["mae"] == pytest.approx(fitted["test_mae"], abs=1e-4)
    compared = run_cli("compare", str(out), "--against", members[0], "--prepared", str(tiny_prepared))
    bootstrap = json.loads(compared.stdout)
    assert bootstrap["mae"]["new"] == pytest.approx(fitted["test_mae"], abs=1e-3)
    low, high = bootstrap["interval_95"]
    assert low <= bootstrap["difference"] <= high and bootstrap["new_is_better"] == (high < 0)


def test_a_member_retrained_on_train_and_val_takes_its_fit_from_the_validation_run(
    run_dir: Path, tiny_prepared: Path, tmp_path: Path
) -> None:
    """data.train_splits = train,val keeps the last epoch; the member's temperature (calibrate --like) and the
    ensemble's rule, weights and temperature (ensemble --fit-from) come from the validation run's fit."""
    from inference_service.vision.checkpoint import read_metadata

    held_out, retrained = tmp_path / "held-out", tmp_path / "retrained"
    _train_tiny_mobilenet(tiny_prepared, held_out)
    run_cli(
        "train",
        *TINY_TRAIN,
        "optim.epochs=2",
        "model.arch=mobilenet_v2",
        "model.init=imagenet-offline",
        "data.train_splits=train,val",
        f"data.prepared={tiny_prepared}",
        f"run.out_dir={retrained}",
    )
    sizes = json.loads((tiny_prepared / "summary.json").read_text())["split_sizes"]
    assert f"train {sizes['train'] + sizes['val']}," in (retrained / "train.log").read_text()
    assert (
        json.loads((retrained / "metrics.json").read_text())["best_epoch"] == 2
    )  # the last, whatever val said
    member = retrained / "best.safetensors"
    assert set(read_metadata(member).metrics) == {"val_mae_trained_on", "epoch"}
    run_cli("calibrate", "--checkpoint", str(member), "--like", str(held_out / "best.safetensors"))
    like = read_metadata(held_out / "best.safetensors")
    assert read_metadata(member).model.temperature == like.model.temperature
    printed = run_cli(
        "quantize", "--checkpoint", str(member), "--prepared", str(tiny_prepared),
        "--calibration-faces", "32", "--control-faces", "16", "--max-move", "10",
    )  # fmt: skip
    int8_temperature = json.loads(printed.stdout.strip().splitlines()[-1])["temperature"]
    assert 0.5 < int8_temperature / like.model.temperature < 2  # its own, scaled by int8's sharpness
    reference = tmp_path / "validation-fit.json"
    first = [str(run_dir / "best.safetensors"), str(held_out / "best.safetensors")]
    run_cli(
        "ensemble", *first, "--prepared", str(tiny_prepared), "--out", str(reference), "--version", "0.0.1"
    )
    out = tmp_path / "retrained.json"
    run_cli(
        "ensemble", first[0], str(member), "--prepared", str(tiny_prepared), "--out", str(out),
        "--version", "0.0.2", "--fit-from", str(reference),
    )  # fmt: skip
    fitted, written = json.loads(reference.read_text()), json.loads(out.read_text())
    for key in ("rule", "temperature"):
        assert written[key] == fitted[key]
    assert [m["weight"] for m in written["members"]] == [m["weight"] for m in fitted["members"]]
    assert written["metrics"]["fit_from"]["file"] == reference.name and written["metrics"]["test"]["n"] >= 10
