"""The age model, loaded once, answering batches of aligned crops: preprocessing, an engine, decoding.

The one place ages are computed from crops: the service, both `evaluate` paths and the trainer's
validation all call `predict_crops`, so they cannot disagree. Preprocessing and decoding are
NumPy and always come from the checkpoint; the engine (`engines.py`) only turns inputs into logits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .align import align_face, crop_scale
from .checkpoint import CheckpointMetadata, read_metadata
from .devices import resolve_device
from .engines import Engine, Network, build_engine
from .model_config import AgeOutput, ModelConfig, decode_output, preprocess
from .options import AgeModelOptions

if TYPE_CHECKING:
    import torch


def flip_averaged(logits: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray) -> np.ndarray:
    """Logits averaged over each input and its mirror image, both views in one call (a fuller batch)."""
    count = len(inputs)
    both = logits(np.ascontiguousarray(np.concatenate([inputs, inputs[..., ::-1]])))
    return (both[:count] + both[count:]) / 2


def as_aligned(crops: np.ndarray | torch.Tensor) -> np.ndarray:
    """Crops as aligned (N x S x S x 3 NumPy), also from a prepared set's N x 3 x S x S torch tensor."""
    if isinstance(crops, np.ndarray):
        return crops
    return crops.permute(0, 2, 3, 1).cpu().numpy()


class Estimator(ABC):
    """Crops in, ages out: what the pipeline, the evaluations and the service see of an age model.

    `AgeEstimator` runs one checkpoint; `ensemble.EnsembleEstimator` pools several. Both are built by
    `pipeline.build_estimator` from the file `[service.age_model] path` names.
    """

    metadata: CheckpointMetadata
    device: str

    @property
    @abstractmethod
    def engine(self) -> str: ...

    @abstractmethod
    def predict_logits(self, crops: np.ndarray | torch.Tensor) -> np.ndarray:
        """Logits for aligned uint8 crops (N x S x S x 3 NumPy, or N x 3 x S x S torch), float32 N x bins."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What `GET /model` shows of the age model."""

    @property
    def model_config(self) -> ModelConfig:
        return self.metadata.model

    def align(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        cfg = self.metadata.model
        return align_face(image, landmarks, cfg.template, cfg.input_size)

    def needs_more_pixels(self, landmarks: np.ndarray) -> bool:
        """Whether the crop of this face would be upsampled from the given image."""
        cfg = self.metadata.model
        return crop_scale(landmarks, cfg.template, cfg.input_size) > 1.0

    def predict_crops(self, crops: np.ndarray | torch.Tensor) -> AgeOutput:
        """Ages (N,), intervals (N, 2) and the calibrated distributions (bins head) for aligned crops."""
        return decode_output(self.predict_logits(crops), self.metadata.model)


class AgeEstimator(Estimator):
    """One checkpoint through one engine. Build it with `from_checkpoint` or `from_module`."""

    def __init__(self, network: Network, device: str, engine: str, flip: bool, batch_size: int, threads: int):
        self.device = resolve_device(device)
        self.runner: Engine = build_engine(engine, network, self.device, threads)
        # What decodes this engine's logits: the checkpoint's config, with an int8 graph's own temperature.
        self.metadata = replace(network.metadata, model=self.runner.model_config(network.metadata.model))
        self.flip = flip
        self.batch_size = max(1, int(batch_size))

    @classmethod
    def from_options(cls, options: AgeModelOptions, device: str) -> AgeEstimator:
        """The checkpoint and engine the options name, on a device (auto, cpu, cuda, cuda:N)."""
        network = Network(read_metadata(options.path), path=Path(options.path))
        return cls(network, device, options.engine, options.flip, options.batch_size, options.threads)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", **options: Any) -> AgeEstimator:
        """A checkpoint file; `options` are `AgeModelOptions` fields (engine, flip, batch_size, threads)."""
        return cls.from_options(AgeModelOptions(path=Path(path), **options), device)

    @classmethod
    def from_module(
        cls,
        module: Any,
        metadata: CheckpointMetadata,
        device: str,
        engine: str = "torch",
        flip: bool = True,
        batch_size: int = 256,
    ) -> AgeEstimator:
        """A network in memory (the trainer's validation), left as it is."""
        return cls(Network(metadata, module=module), device, engine, flip, batch_size, 0)

    @property
    def engine(self) -> str:
        return self.runner.name

    def describe(self) -> dict[str, Any]:
        """What `GET /model` shows of the age model: the checkpoint's card and how it runs here."""
        return {**self.metadata.to_dict(), "device": self.device, "engine": self.engine}

    def predict_logits(self, crops: np.ndarray | torch.Tensor) -> np.ndarray:
        """Logits (flip-averaged when `flip`) for aligned uint8 crops, float32 N x outputs."""
        crops = as_aligned(crops)
        out = []
        for start in range(0, len(crops), self.batch_size):
            inputs = preprocess(crops[start : start + self.batch_size], self.metadata.model)
            logits = flip_averaged(self.runner.logits, inputs) if self.flip else self.runner.logits(inputs)
            out.append(np.asarray(logits, dtype=np.float32))
        if not out:
            return np.zeros((0, self.metadata.model.num_bins), dtype=np.float32)
        return np.concatenate(out)
