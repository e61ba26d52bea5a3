"""The age network: a torchvision ResNet-50 with a replaceable head, built from a `ModelConfig`.

Only torch code lives here (building the network, the training batches' normalisation);
what turns crops into input and output into ages is torch-free, in `model_config`.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet50

from .model_config import ModelConfig

FEATURES = 2048


def build_model(config: ModelConfig) -> nn.Module:
    """A randomly initialised ResNet-50 with the head the config names."""
    model = resnet50(weights=None)
    if config.head == "bins":
        model.fc = nn.Linear(FEATURES, config.num_bins)
    else:
        # The IMDB-WIKI system's regression head.
        model.fc = nn.Sequential(nn.Linear(FEATURES, 256), nn.ReLU(inplace=True), nn.Linear(256, 1))
    return model


def normalise(images: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """A float N x 3 x S x S training batch in 0..1 (after augmentation, on its device) to the
    network's input: the same arithmetic as `model_config.preprocess`, which a test checks."""
    mean = torch.tensor(config.mean, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(config.std, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std
