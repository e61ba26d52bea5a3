"""The age network: a torchvision backbone (ResNet-50, or MobileNetV2 for teachers) with an age head,
built from a `ModelConfig`.

Only torch code lives here (building the network, the training batches' normalisation);
what turns crops into input and output into ages is torch-free, in `model_config`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models import mobilenet_v2, resnet50

from .model_config import ModelConfig


@dataclass(frozen=True)
class Backbone:
    """How to build one architecture and where its head sits (the head is what a new task replaces)."""

    build: Callable[..., nn.Module]
    features: int  # width of the pooled features the head reads
    head_name: str  # attribute holding the head; its state-dict keys start with this + "."
    dropout: float  # before the head (MobileNetV2's own classifier has 0.2)


BACKBONES: dict[str, Backbone] = {
    "resnet50": Backbone(resnet50, 2048, "fc", 0.0),
    "mobilenet_v2": Backbone(mobilenet_v2, 1280, "classifier", 0.2),
}


def head_prefix(arch: str) -> str:
    return BACKBONES[arch].head_name + "."


def build_model(config: ModelConfig) -> nn.Module:
    """A randomly initialised network of the config's architecture with the age head: one logit per age."""
    backbone = BACKBONES[config.arch]
    model = backbone.build(weights=None)
    head: nn.Module = nn.Linear(backbone.features, config.num_bins)
    if backbone.dropout:
        head = nn.Sequential(nn.Dropout(backbone.dropout), head)
    setattr(model, backbone.head_name, head)
    return model


def normalise(images: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """A float N x 3 x S x S training batch in 0..1 (after augmentation, on its device) to the
    network's input: the same arithmetic as `model_config.preprocess`, which a test checks."""
    mean = torch.tensor(config.mean, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(config.std, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std
