"""What turns aligned crops into the network's input, and its output into ages: everything
besides the network itself.

As in timm, the config travels with the weights: input size, normalisation, the
alignment template, the age range and the calibration temperature are all read from
the checkpoint, never repeated as constants elsewhere. Nothing here needs torch, so a
service whose engine is a compiled graph (OpenVINO, ONNX Runtime) never loads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

import numpy as np

from .align import UTKFACE_TEMPLATE

Arch = Literal["resnet50", "mobilenet_v2"]  # see age_model.BACKBONES
ARCHITECTURES: tuple[str, ...] = get_args(Arch)
# The one head: a softmax over whole-year ages (expected age, interval, age checks). Checkpoints record it,
# so the field stays; the l1 and mse regression heads were removed (no config or checkpoint used them).
Head = Literal["bins"]


@dataclass
class ModelConfig:
    """Everything needed to turn an aligned crop into an age, besides the weights."""

    arch: Arch = "resnet50"
    head: Head = "bins"
    input_size: int = 128
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    template: tuple[tuple[float, float], ...] = UTKFACE_TEMPLATE
    age_min: int = 0
    age_max: int = 100
    interval_mass: float = 0.8  # the central probability mass reported as age_interval
    # Calibration: the age distribution is softmax(logits / temperature). Fitted on the
    # validation split by `python -m training calibrate`; 1.0 means uncalibrated.
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; known: {ARCHITECTURES}")
        if self.head not in get_args(Head):
            raise ValueError(
                f"head {self.head!r} is not supported: only 'bins' "
                "(the l1 and mse regression heads were removed)"
            )
        if not 16 <= int(self.input_size) <= 1024:
            raise ValueError(f"input_size {self.input_size} is out of range 16..1024")
        if np.asarray(self.template).shape != (5, 2):
            raise ValueError("template must hold 5 (x, y) points")
        if not self.age_min < self.age_max:
            raise ValueError("age_min must be below age_max")
        if not 0.01 <= float(self.temperature) <= 100:
            raise ValueError(f"temperature {self.temperature} is out of range 0.01..100")
        self.temperature = float(self.temperature)
        self.input_size = int(self.input_size)
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)
        self.template = tuple((float(x), float(y)) for x, y in self.template)

    @property
    def num_bins(self) -> int:
        return self.age_max - self.age_min + 1

    def to_dict(self) -> dict:
        data = asdict(self)
        data["template"] = [list(p) for p in self.template]
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)


def preprocess(crops: np.ndarray, config: ModelConfig) -> np.ndarray:
    """uint8 N x S x S x 3 crops, as aligned, to the network's float32 N x 3 x S x S input."""
    scaled = np.asarray(crops, dtype=np.float32).transpose(0, 3, 1, 2) / np.float32(255.0)
    mean = np.asarray(config.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(config.std, dtype=np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray((scaled - mean) / std)


@dataclass
class AgeOutput:
    age: np.ndarray  # (N,)
    interval: np.ndarray | None = None  # (N, 2) or None
    # (N, num_bins): the calibrated age distribution
    probabilities: np.ndarray | None = field(default=None, repr=False)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def decode_output(logits: np.ndarray, config: ModelConfig) -> AgeOutput:
    """Network output to ages, the interval and the calibrated distribution.

    The age is the expectation under the uncalibrated softmax, the quantity the L1
    term of the loss trained (`training.losses.expected_age`), so calibration never
    moves an age; the interval and the age checks read the temperature-scaled
    distribution, which is what makes their probabilities honest.
    """
    logits = np.asarray(logits, dtype=np.float32)
    ages = np.arange(config.age_min, config.age_max + 1, dtype=np.float32)
    expected = softmax(logits) @ ages
    probs = softmax(logits / np.float32(config.temperature))
    tail = (1.0 - config.interval_mass) / 2
    low, high = quantile(probs, tail, config), quantile(probs, 1 - tail, config)
    return AgeOutput(age=expected, interval=np.stack([low, high], axis=1), probabilities=probs)


def quantile(probs: np.ndarray, q: float, config: ModelConfig) -> np.ndarray:
    """The q-quantile of each distribution, reading bin `a` as spread evenly over [a - 0.5, a + 0.5].

    Whole-bin quantiles would widen the central interval by up to a bin at each end, so
    a calibrated 80 % interval would cover ~84 % of faces.
    """
    cdf = probs.cumsum(axis=1)
    rows = np.arange(len(probs))
    index = np.minimum((cdf < q).sum(axis=1), config.num_bins - 1)  # the first bin reaching q
    before = np.where(index > 0, cdf[rows, np.maximum(index - 1, 0)], 0.0)
    inside = np.maximum(probs[rows, index], 1e-12)
    value = config.age_min + index - 0.5 + np.clip((q - before) / inside, 0.0, 1.0)
    return np.clip(value, config.age_min, config.age_max).astype(np.float32)
