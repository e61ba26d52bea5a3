"""What each training face is taught: the target distribution over the age bins, chosen once per run.

Three strategies, picked by the config (`choose_target`):

- `SoftLabels`: a Gaussian around the true age (`optim.label_sigma`);
- `Distillation` (`optim.distill_from`, `optim.distill_views = "stored"`): those soft labels mixed with the
  teachers' averaged, flip-averaged, calibrated distributions (`optim.distill_weight` is the teachers'
  share), computed once at start-up on the training crops as stored;
- `ConsistentDistillation` (`distill_views = "augmented"`): the same mix, but the teachers see the very
  batch the student sees, augmented and mixed, in every step (Beyer et al., CVPR 2022: "consistent
  teaching"). A teacher that has memorised its training crops says little new about them as stored; on a
  new view it says what it really thinks.

Each strategy is called with the step's `Batch`; with mixup on (`optim.mixup_alpha`), a batch holds pairs of
faces blended with one share, and its targets are blended with the same share.

Teachers of any architecture and input size can be mixed: each runs at its own input size. The stored-view
distributions are cached in the prepared set's `cache/` folder, keyed by the training faces, the prepared
set's summary, the teacher file's sha256 and the engine that ran it, so a sweep runs each teacher once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as nnf

from inference_service.vision.age_model import normalise
from inference_service.vision.checkpoint import load_checkpoint
from inference_service.vision.engines import file_sha256
from inference_service.vision.estimator import AgeEstimator
from inference_service.vision.model_config import ModelConfig

from .config import DataConfig, TrainConfig
from .data import FaceSet, load_split
from .losses import soft_labels

log = logging.getLogger("training")


@dataclass
class Batch:
    """One step's faces as the student sees them; `partner`/`share` say how mixup blended them."""

    images: torch.Tensor  # float N x 3 x S x S in 0..1, augmented (and blended with the partners)
    ages: torch.Tensor  # each face's own true age
    idx: torch.Tensor  # positions in the training set
    partner: torch.Tensor | None = None  # position in the batch of the face each one is blended with
    share: float = 1.0  # each face's own share of its blend

    def mix(self, per_face: torch.Tensor) -> torch.Tensor:
        """Blend any per-face quantity (ages, target rows) exactly as the images were blended."""
        if self.partner is None:
            return per_face
        return torch.lerp(per_face[self.partner], per_face, self.share)

    @property
    def mixed_ages(self) -> torch.Tensor:
        """What the L1 term aims at: the blend of the two true ages."""
        return self.mix(self.ages)


def mixup(batch: Batch, alpha: float, generator: torch.Generator | None = None) -> Batch:
    """Blend each face with a random other face of the batch, one Beta(alpha, alpha) share per batch."""
    if alpha <= 0:
        return batch
    share = float(torch.distributions.Beta(alpha, alpha).sample())
    share = max(share, 1 - share)  # each image stays mostly itself; its own target dominates
    partner = torch.randperm(len(batch.ages), generator=generator).to(batch.images.device)
    images = torch.lerp(batch.images[partner], batch.images, share)
    return replace(batch, images=images, partner=partner, share=share)


class SoftLabels:
    """A Gaussian label distribution around each face's true age (one-hot when sigma is 0)."""

    def __init__(self, cfg: ModelConfig, sigma: float):
        self.cfg, self.sigma = cfg, sigma

    def __call__(self, batch: Batch) -> torch.Tensor:
        """Targets (N, bins) for the batch's faces."""
        return batch.mix(soft_labels(batch.ages, self.cfg, self.sigma))

    def describe(self) -> str:
        return f"Gaussian soft labels, sigma {self.sigma:g} years"


class Distillation(SoftLabels):
    """Soft labels mixed with the teachers' distributions: what they learnt about ambiguous faces. Here the
    distributions were computed once, on the stored crops (`teachers`: training faces x bins)."""

    seen_on = ""

    def __init__(self, cfg: ModelConfig, sigma: float, teachers, weight: float):
        super().__init__(cfg, sigma)
        self.teachers, self.weight = teachers, weight

    def teachers_say(self, batch: Batch) -> torch.Tensor:
        return batch.mix(self.teachers[batch.idx])

    def __call__(self, batch: Batch) -> torch.Tensor:
        return torch.lerp(super().__call__(batch), self.teachers_say(batch), self.weight)

    def describe(self) -> str:
        soft = SoftLabels.describe(self)
        return f"{1 - self.weight:g} x {soft} + {self.weight:g} x the teachers' distributions{self.seen_on}"


@dataclass(frozen=True)
class Teacher:
    """A frozen teacher network with its own config (input size, mean/std, temperature)."""

    network: torch.nn.Module
    cfg: ModelConfig


class ConsistentDistillation(Distillation):
    """Distillation from what the teachers say about the student's own view of each face (augmented and
    mixed), each teacher at its own input size."""

    seen_on = " on the student's own augmented views"

    def __init__(self, cfg: ModelConfig, sigma: float, teachers: list[Teacher], weight: float, bf16: bool):
        super().__init__(cfg, sigma, teachers, weight)
        self.bf16 = bf16

    @torch.no_grad()
    def teachers_say(self, batch: Batch) -> torch.Tensor:
        """The teachers' averaged calibrated distributions (N, bins) on the batch's images (0..1)."""
        images = batch.images
        out = torch.zeros(len(images), self.cfg.num_bins, device=images.device)
        for teacher in self.teachers:
            own = teacher.cfg
            size = (own.input_size, own.input_size)
            views = (
                images
                if images.shape[-2:] == size
                else nnf.interpolate(images, size=size, mode="bilinear", antialias=True)
            )
            inputs = normalise(views, own).contiguous(memory_format=torch.channels_last)
            with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                logits = teacher.network(inputs).float()
            out += (logits / own.temperature).softmax(dim=1)
        return out / len(self.teachers)


def choose_target(
    config: TrainConfig,
    cfg: ModelConfig,
    train_set: FaceSet,
    device: torch.device,
    bf16: bool = False,
    announce: bool = True,
) -> SoftLabels:
    """The run's target strategy; stored-view teachers' distributions are computed (or read) now."""
    optim = config.optim
    if not optim.distill_from:
        return SoftLabels(cfg, optim.label_sigma)
    if optim.distill_views == "augmented":
        teachers = [_teacher(path, cfg, device) for path in optim.distill_from]
        return ConsistentDistillation(cfg, optim.label_sigma, teachers, optim.distill_weight, bf16)
    per_teacher = [
        teacher_distribution(path, train_set, config.data, cfg, str(device), announce)
        for path in optim.distill_from
    ]
    averaged = torch.from_numpy(np.mean(per_teacher, axis=0)).to(device)
    return Distillation(cfg, optim.label_sigma, averaged, optim.distill_weight)


def _teacher(path: str, cfg: ModelConfig, device: torch.device) -> Teacher:
    """A teacher network in eval mode, frozen, with its checkpoint's config."""
    module, metadata = load_checkpoint(path, device)
    _refuse_other_ages(path, metadata.model, cfg)
    module = module.to(device, memory_format=torch.channels_last).eval().requires_grad_(False)
    return Teacher(module, metadata.model)


def _refuse_other_ages(path: str, own: ModelConfig, cfg: ModelConfig) -> None:
    if (own.age_min, own.age_max) != (cfg.age_min, cfg.age_max):
        raise ValueError(f"teacher {path} covers ages {own.age_min}-{own.age_max}, not the student's")


def teacher_distribution(
    path: str, train_set: FaceSet, data: DataConfig, cfg: ModelConfig, device: str, announce: bool = True
) -> np.ndarray:
    """One teacher's calibrated, flip-averaged distribution (faces, bins) on every training face."""
    started = time.time()
    teacher = AgeEstimator.from_checkpoint(path, device=device, batch_size=128)
    own = teacher.model_config
    _refuse_other_ages(path, own, cfg)
    cache = _cache_path(data.prepared, train_set, path, teacher.engine)
    if cache.exists():
        if announce:
            log.info("teacher %s: distributions read from %s", path, cache)
        return np.load(cache)
    images = (
        train_set.images
        if own.input_size == cfg.input_size
        else load_split(data.prepared, "train", own.input_size, data.limit).images
    )
    out = teacher.predict_crops(images)
    if announce:
        mae = float(np.abs(out.age - train_set.ages.cpu().numpy()).mean())
        log.info("teacher %s: train MAE %.3f, %.0f s", path, mae, time.time() - started)
    _write_atomically(cache, out.probabilities)
    return out.probabilities


def _cache_path(prepared: str, train_set: FaceSet, teacher: str, engine: str) -> Path:
    """`<prepared>/cache/teacher-<key>.npy`, the key naming everything the distributions depend on."""
    summary = Path(prepared) / "summary.json"
    key = {
        "faces": [Path(name).name for name in train_set.files],  # crops are named by their photo's sha1
        "summary": json.loads(summary.read_text()) if summary.exists() else None,
        "teacher_sha256": file_sha256(Path(teacher)),
        "engine": engine,
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return Path(prepared) / "cache" / f"teacher-{digest[:24]}.npy"


def _write_atomically(path: Path, array: np.ndarray) -> None:
    """Other processes (DDP ranks, a parallel sweep) never read a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
    np.save(partial, array.astype(np.float32))
    os.replace(partial, path)
