"""Experiment configs: TOML file, then command-line overrides; typos are errors, not silent defaults."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from training_testdata import REPO

from training.cli import build_parser
from training.config import load_config, to_toml

COMMANDS = (
    "prepare",
    "train",
    "evaluate",
    "predict",
    "template",
    "pack",
    "unpack",
    "split-file",
    "join-file",
)


# shipped/, teachers/, candidates/ and archive/
CONFIGS = sorted((REPO / "training" / "configs").rglob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load_and_round_trip(path: Path) -> None:
    config = load_config(path)
    assert config.model.arch in ("resnet50", "mobilenet_v2") and config.optim.epochs > 0
    assert tomllib.loads(to_toml(config.to_dict())) == config.to_dict()


def test_overrides_are_typed_and_checked() -> None:
    config = load_config(
        REPO / "training/configs/archive/gpu-default.toml",
        ["optim.epochs=3", "augment.flip=false", "optim.lr=5e-4", "data.prepared=/x"],
    )
    assert config.optim.epochs == 3 and config.augment.flip is False and config.optim.lr == 5e-4
    assert config.data.prepared == "/x" and config.model.input_size == 112
    with pytest.raises(ValueError, match=r"unknown config key optim\.epoch"):
        load_config(None, ["optim.epoch=3"])
    with pytest.raises(ValueError, match="unknown config section"):
        load_config(None, ["optimiser.lr=1"])
    with pytest.raises(ValueError, match=r"section\.key=value"):
        load_config(None, ["epochs=3"])
    with pytest.raises(ValueError, match="not a boolean"):
        load_config(None, ["augment.flip=maybe"])
    with pytest.raises(ValueError):
        load_config(None, ["optim.epochs=many"])


def test_choices_are_checked_at_load_time_and_removed_keys_say_why(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"run\.precision must be one of auto, bf16, fp32, not 'fp16'"):
        load_config(None, ["run.precision=fp16"])
    with pytest.raises(ValueError, match=r"model\.arch must be one of resnet50, mobilenet_v2, not 'vgg16'"):
        load_config(None, ["model.arch=vgg16"])
    path = tmp_path / "old.toml"
    path.write_text('[data]\nbalance = "group_dro"\n')
    with pytest.raises(ValueError, match=r"data\.balance = 'group_dro' was removed .*archive/README\.md"):
        load_config(path)
    with pytest.raises(ValueError, match=r"model\.head = 'l1' was removed .*always does 'bins'"):
        load_config(None, ["model.head=l1"])


def test_cli_lists_every_command(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert all(command in text for command in COMMANDS)


def test_precision_resolves_per_device() -> None:
    import pytest
    import torch

    from inference_service.vision.devices import cpu_info
    from training.train import use_bf16

    cpu = torch.device("cpu")
    assert use_bf16("bf16", cpu) and not use_bf16("fp32", cpu)
    assert use_bf16("auto", torch.device("cuda")) and use_bf16("auto", cpu) == cpu_info().native_bf16
    with pytest.raises(ValueError, match=r"run\.precision must be auto, bf16 or fp32"):
        use_bf16("fp16", cpu)


def test_train_splits_never_include_test() -> None:
    assert load_config(None, ["data.train_splits=train,val"]).data.train_splits == ["train", "val"]
    with pytest.raises(ValueError, match=r"data\.train_splits must be"):
        load_config(None, ["data.train_splits=train,test"])
    with pytest.raises(ValueError, match=r"data\.train_splits must be"):
        load_config(None, ["data.train_splits=val"])
