"""The prepared crops as one uint8 tensor, augmented in batches on the training device.

Face crops are small, so the whole split fits in memory (and in GPU memory): no
data-loader workers, no per-image Python in the hot loop. Augmentation runs on
whole batches with `affine_grid`, the same code on CPU and GPU.
"""

from __future__ import annotations

import math
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch.nn import functional as nnf

from inference_service.vision.align import resize_crops

from .config import AugmentConfig
from .prepare import read_index
from .sources import GroupLabels, group_labels


@dataclass
class FaceSet:
    images: torch.Tensor  # N x 3 x S x S, uint8
    ages: torch.Tensor  # N, float32
    files: list[str]
    originals: list[str] = field(default_factory=list)  # the source photos' file names
    # Each face's group labels, as its source records them (None: the source records none); to measure only
    groups: list[GroupLabels | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ages)

    def to(self, device: torch.device) -> FaceSet:
        return FaceSet(self.images.to(device), self.ages.to(device), self.files, self.originals, self.groups)


def _read(path: str, size: int) -> np.ndarray:
    crop = cv2.imread(path, cv2.IMREAD_COLOR)
    if crop is None:
        raise OSError(f"cannot read prepared crop {path}")
    crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
    return resize_crops(crop[None], size)[0]


def load_split(
    prepared: str,
    split: str | list[str] | None,
    size: int,
    limit: int = 0,
    originals: list[str] | None = None,
) -> FaceSet:
    """One split (or several) of a prepared set, resized once to the network's input size.

    `originals` keeps only the rows made from those source file names, in that order.
    """
    rows = read_index(prepared, split)
    if originals is not None:
        by_name = {r["original"]: r for r in rows}
        missing = [n for n in originals if n not in by_name]
        if missing:
            raise ValueError(f"{len(missing)} listed files are not in split {split!r}, e.g. {missing[:3]}")
        rows = [by_name[n] for n in originals]
    if limit and limit < len(rows):  # a fixed random subset: the index is sorted by name, i.e. by age
        keep = sorted(random.Random(0).sample(range(len(rows)), limit))
        rows = [rows[i] for i in keep]
    if not rows:
        raise ValueError(f"split {split!r} of {prepared} is empty")
    with ThreadPoolExecutor(4) as pool:
        crops = list(pool.map(lambda r: _read(r["file"], size), rows))
    images = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    ages = torch.tensor([r["age"] for r in rows], dtype=torch.float32)
    return FaceSet(
        images=images,
        ages=ages,
        files=[r["file"] for r in rows],
        originals=[r["original"] for r in rows],
        groups=[group_labels(r["source"], r["original"]) for r in rows],
    )


def augment(
    batch: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random flip, small similarity warp and colour jitter on a float N x 3 x S x S batch in 0..1."""
    n, device = batch.shape[0], batch.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, device="cpu", generator=generator).to(device) * (high - low) + low

    if cfg.flip:
        flip = torch.rand(n, generator=generator) < 0.5
        batch = torch.where(flip.to(device).view(-1, 1, 1, 1), batch.flip(3), batch)
    if cfg.rotate_deg or cfg.scale or cfg.translate:
        angle = uniform(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
        zoom = uniform(1 - cfg.scale, 1 + cfg.scale)
        tx, ty = uniform(-cfg.translate, cfg.translate) * 2, uniform(-cfg.translate, cfg.translate) * 2
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = nnf.affine_grid(theta, list(batch.shape), align_corners=False)
        batch = nnf.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if cfg.brightness:
        batch = batch * uniform(1 - cfg.brightness, 1 + cfg.brightness).view(-1, 1, 1, 1)
    grey = (batch * torch.tensor([0.299, 0.587, 0.114], device=device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if cfg.contrast:
        mean = grey.mean(dim=(2, 3), keepdim=True)
        factor = uniform(1 - cfg.contrast, 1 + cfg.contrast).view(-1, 1, 1, 1)
        batch = (batch - mean) * factor + mean
    if cfg.saturation:
        factor = uniform(1 - cfg.saturation, 1 + cfg.saturation).view(-1, 1, 1, 1)
        batch = (batch - grey) * factor + grey
    if cfg.grayscale_p:
        to_grey = (torch.rand(n, generator=generator) < cfg.grayscale_p).to(device).view(-1, 1, 1, 1)
        batch = torch.where(to_grey, grey.expand_as(batch), batch)
    return batch.clamp_(0, 1)
