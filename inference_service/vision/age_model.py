"""The age network: a torchvision ResNet-50 with a replaceable head, built from a config.

As in timm, the config travels with the weights: input size, normalisation, the
alignment template and the age range are all read from the checkpoint, never
repeated as constants elsewhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn
from torchvision.models import resnet50

from .align import UTKFACE_TEMPLATE

HeadKind = Literal["bins", "l1", "mse"]
HEADS: tuple[str, ...] = ("bins", "l1", "mse")
ARCHITECTURES: tuple[str, ...] = ("resnet50",)
FEATURES = 2048


@dataclass
class ModelConfig:
    """Everything needed to turn an aligned crop into an age, besides the weights."""

    arch: str = "resnet50"
    head: HeadKind = "bins"
    input_size: int = 128
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    template: tuple[tuple[float, float], ...] = UTKFACE_TEMPLATE
    age_min: int = 0
    age_max: int = 100
    interval_mass: float = 0.8  # the central probability mass reported as age_interval
    # Calibration (bins head): the age distribution is softmax(logits / temperature). Fitted on the
    # validation split by `python -m training calibrate`; 1.0 means uncalibrated.
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; known: {ARCHITECTURES}")
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}; known: {HEADS}")
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

    @property
    def gives_interval(self) -> bool:
        return self.head == "bins"

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


def build_model(config: ModelConfig) -> nn.Module:
    """A randomly initialised ResNet-50 with the head the config names."""
    model = resnet50(weights=None)
    if config.head == "bins":
        model.fc = nn.Linear(FEATURES, config.num_bins)
    else:
        # The IMDB-WIKI system's regression head.
        model.fc = nn.Sequential(nn.Linear(FEATURES, 256), nn.ReLU(inplace=True), nn.Linear(256, 1))
    return model


@dataclass
class AgeOutput:
    age: torch.Tensor  # (N,)
    interval: torch.Tensor | None = None  # (N, 2) or None
    # (N, num_bins): the calibrated age distribution, bins head only
    probabilities: torch.Tensor | None = field(default=None, repr=False)


def decode_output(logits: torch.Tensor, config: ModelConfig) -> AgeOutput:
    """Network output to ages (and, for `bins`, the interval and the calibrated distribution).

    The age is the expectation under the uncalibrated softmax, the quantity the L1
    term of the loss trained, so calibration never moves an age; the interval and
    the age checks read the temperature-scaled distribution, which is what makes
    their probabilities honest.
    """
    logits = logits.float()
    if config.head != "bins":
        age = logits.reshape(-1).clamp(config.age_min, config.age_max)
        return AgeOutput(age=age)
    ages = torch.arange(config.age_min, config.age_max + 1, device=logits.device, dtype=torch.float32)
    expected = logits.softmax(dim=1) @ ages
    probs = (logits / config.temperature).softmax(dim=1)
    tail = (1.0 - config.interval_mass) / 2
    low, high = quantile(probs, tail, config), quantile(probs, 1 - tail, config)
    return AgeOutput(age=expected, interval=torch.stack([low, high], dim=1), probabilities=probs)


def quantile(probs: torch.Tensor, q: float, config: ModelConfig) -> torch.Tensor:
    """The q-quantile of each distribution, reading bin `a` as spread evenly over [a - 0.5, a + 0.5].

    Whole-bin quantiles would widen the central interval by up to a bin at each end, so
    a calibrated 80 % interval would cover ~84 % of faces.
    """
    cdf = probs.cumsum(dim=1)
    last = config.num_bins - 1
    index = torch.searchsorted(cdf, torch.full((len(cdf), 1), q, device=cdf.device)).clamp(max=last)
    before = torch.where(
        index > 0, cdf.gather(1, (index - 1).clamp(min=0)), torch.zeros_like(index, dtype=cdf.dtype)
    )
    inside = probs.gather(1, index).clamp(min=1e-12)
    value = config.age_min + index.float() - 0.5 + ((q - before) / inside).clamp(0, 1)
    return value.squeeze(1).clamp(config.age_min, config.age_max)


def normalise(crops: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """uint8 N x H x W x 3 (or float N x 3 x H x W in 0..1) to the network's input."""
    if crops.dtype == torch.uint8:
        crops = crops.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(config.mean, device=crops.device).view(1, 3, 1, 1)
    std = torch.tensor(config.std, device=crops.device).view(1, 3, 1, 1)
    return (crops - mean) / std
