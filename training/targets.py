"""What each training face is taught: the target distribution over the age bins, chosen once per run.

Two strategies, picked by the config (`choose_target`):

- `SoftLabels`: a Gaussian around the true age (`optim.label_sigma`);
- `Distillation` (`optim.distill_from`): those soft labels mixed with the teachers' averaged, flip-averaged,
  calibrated distributions (`optim.distill_weight` is the teachers' share).

The teachers run once at start-up on the training crops as stored (before augmentation), each at its own
input size, so teachers of any architecture can be mixed. Each teacher's distributions are cached in the
prepared set's `cache/` folder, keyed by the training faces, the prepared set's summary, the teacher file's
sha256 and the engine that ran it, so a sweep over `distill_weight` runs each teacher once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

from inference_service.vision.engines import file_sha256
from inference_service.vision.estimator import AgeEstimator
from inference_service.vision.model_config import ModelConfig

from .config import DataConfig, TrainConfig
from .data import FaceSet, load_split
from .losses import soft_labels

log = logging.getLogger("training")


class SoftLabels:
    """A Gaussian label distribution around each face's true age (one-hot when sigma is 0)."""

    def __init__(self, cfg: ModelConfig, sigma: float):
        self.cfg, self.sigma = cfg, sigma

    def __call__(self, ages: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Targets (N, bins) for the faces `idx` of the training set, whose true ages are `ages`."""
        return soft_labels(ages, self.cfg, self.sigma)

    def describe(self) -> str:
        return f"Gaussian soft labels, sigma {self.sigma:g} years"


class Distillation(SoftLabels):
    """Soft labels mixed with the teachers' distributions: what they learnt about ambiguous faces."""

    def __init__(self, cfg: ModelConfig, sigma: float, teachers: torch.Tensor, weight: float):
        super().__init__(cfg, sigma)
        self.teachers, self.weight = teachers, weight  # teachers: (training faces, bins)

    def __call__(self, ages: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return torch.lerp(super().__call__(ages, idx), self.teachers[idx], self.weight)

    def describe(self) -> str:
        return f"{1 - self.weight:g} x {super().describe()} + {self.weight:g} x the teachers' distributions"


def choose_target(
    config: TrainConfig, cfg: ModelConfig, train_set: FaceSet, device: torch.device, announce: bool = True
) -> SoftLabels:
    """The run's target strategy; with teachers, their distributions are computed (or read) now."""
    optim = config.optim
    if not optim.distill_from:
        return SoftLabels(cfg, optim.label_sigma)
    per_teacher = [
        teacher_distribution(path, train_set, config.data, cfg, str(device), announce)
        for path in optim.distill_from
    ]
    averaged = torch.from_numpy(np.mean(per_teacher, axis=0)).to(device)
    return Distillation(cfg, optim.label_sigma, averaged, optim.distill_weight)


def teacher_distribution(
    path: str, train_set: FaceSet, data: DataConfig, cfg: ModelConfig, device: str, announce: bool = True
) -> np.ndarray:
    """One teacher's calibrated, flip-averaged distribution (faces, bins) on every training face."""
    started = time.time()
    teacher = AgeEstimator.from_checkpoint(path, device=device, batch_size=128)
    own = teacher.model_config
    if (own.age_min, own.age_max) != (cfg.age_min, cfg.age_max):
        raise ValueError(f"teacher {path} covers ages {own.age_min}-{own.age_max}, not the student's")
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
