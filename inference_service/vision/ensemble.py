"""An ensemble age model: member checkpoints whose calibrated distributions are pooled, one calibration
on top.

The ensemble file (JSON, `format: age-ensemble/1`) is the model the service names: it lists each member
checkpoint by a path relative to itself with that file's sha256 and a weight, the pooling rule, the
ensemble's own temperature, its figures, and its name and version. Members are ordinary checkpoints,
each carrying its own input size, mean/std and calibration, so no weights are copied. They must share
the alignment template and the age range: each face is aligned once, at the largest member's input size,
and each member reads that crop resized to its own size by area averaging, as training reads the
prepared crops. `python -m training ensemble` fits the weights and the temperature and writes the file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .align import resize_crops
from .checkpoint import CheckpointError, CheckpointMetadata, read_metadata
from .engines import file_sha256
from .estimator import AgeEstimator, Estimator, as_aligned
from .model_config import ModelConfig
from .options import AgeModelOptions

if TYPE_CHECKING:
    import torch

FORMAT = "age-ensemble/1"
# How member distributions are pooled: the weighted mixture, or the weighted geometric mean (renormalised).
RULES = ("mean", "product")
# Members must agree on these: one alignment serves them all, and their bins must be the same ages.
SHARED_KEYS = ("template", "age_min", "age_max", "interval_mass")


def is_ensemble(path: str | Path) -> bool:
    """An ensemble file is JSON; a single checkpoint is safetensors."""
    return Path(path).suffix.lower() == ".json"


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def pool(
    logits: Sequence[np.ndarray], configs: Sequence[ModelConfig], weights: Sequence[float], rule: str
) -> np.ndarray:
    """The ensemble's logits: the log of the members' calibrated distributions, pooled by `rule`.

    `decode_output` reads them as it reads one network's: the age is the pooled distribution's mean,
    and the interval and the age checks read that distribution under the ensemble's temperature.
    """
    calibrated = [
        log_softmax(np.asarray(z, np.float32) / np.float32(c.temperature)) for z, c in zip(logits, configs)
    ]
    w = np.asarray(weights, dtype=np.float32)
    if rule == "product":
        return sum(wi * lp for wi, lp in zip(w, calibrated)).astype(np.float32)
    stacked = np.stack([np.log(wi) + lp for wi, lp in zip(w, calibrated)])
    top = stacked.max(axis=0)
    return (top + np.log(np.exp(stacked - top).sum(axis=0))).astype(np.float32)


@dataclass
class Member:
    path: str  # relative to the ensemble file's folder
    sha256: str
    weight: float


@dataclass
class EnsembleSpec:
    """The ensemble file: what it pools, how, and how well it did."""

    name: str
    version: str
    members: list[Member]
    rule: str = "mean"
    temperature: float = 1.0
    metrics: dict[str, Any] = field(default_factory=dict)
    code_version: str = "unknown"
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise CheckpointError(f"ensemble rule {self.rule!r} is unknown; use one of {', '.join(RULES)}")
        if not self.members:
            raise CheckpointError("an ensemble needs at least one member")
        if any(not m.weight > 0 for m in self.members) or abs(sum(self.weights) - 1) > 1e-3:
            raise CheckpointError(f"ensemble weights must be positive and sum to 1, not {self.weights}")
        if not 0.01 <= float(self.temperature) <= 100:
            raise CheckpointError(f"ensemble temperature {self.temperature} is out of range 0.01..100")

    @property
    def weights(self) -> list[float]:
        return [m.weight for m in self.members]

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, path: str | Path) -> EnsembleSpec:
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"ensemble file not found: {path}")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"ensemble file {path} is not readable JSON: {exc}") from None
        if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
            raise CheckpointError(f"{path} is not an ensemble file (format {FORMAT!r})")
        try:
            members = [
                Member(str(m["path"]), str(m["sha256"]), float(m["weight"])) for m in data.pop("members")
            ]
            return cls(members=members, **data)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"ensemble file {path} is invalid: {exc!r}") from None

    def metadata(self, members: Sequence[ModelConfig]) -> CheckpointMetadata:
        """The ensemble as one model: its name, version and figures, and the config of the crops it aligns
        (the largest member's input size) under the ensemble's temperature."""
        largest = max(members, key=lambda cfg: cfg.input_size)
        return CheckpointMetadata(
            model=replace(largest, temperature=float(self.temperature)),
            name=self.name,
            version=self.version,
            metrics=self.metrics,
            code_version=self.code_version,
            created=self.created,
        )

    def member_files(self, path: str | Path) -> list[tuple[Path, CheckpointMetadata]]:
        """Each member's checkpoint beside the ensemble file, with its metadata, after every check:
        the file exists, its sha256 is the one recorded, and it shares the template and age range."""
        folder = Path(path).parent
        found = []
        for member in self.members:
            file = folder / member.path
            metadata = read_metadata(file)
            if file_sha256(file) != member.sha256:
                raise CheckpointError(
                    f"ensemble member {file} is not the file the ensemble recorded "
                    f"(sha256 {member.sha256[:12]}…)"
                )
            found.append((file, metadata))
        first_file, first = found[0]
        for file, metadata in found[1:]:
            for key in SHARED_KEYS:
                if getattr(metadata.model, key) != getattr(first.model, key):
                    raise CheckpointError(
                        f"ensemble members {first_file.name} and {file.name} differ in {key}: one alignment "
                        "and one set of age bins must serve every member"
                    )
        return found


def model_files(path: str | Path) -> list[Path]:
    """The checkpoint files a model path stands for, each checked without building a network: the path
    itself (its metadata read), or an ensemble file's members (every check of `member_files`)."""
    if not is_ensemble(path):
        read_metadata(path)
        return [Path(path)]
    return [file for file, _ in EnsembleSpec.read(path).member_files(path)]


def read_model_metadata(path: str | Path) -> CheckpointMetadata:
    """What a model path describes, without building a network: a checkpoint's metadata, or an ensemble
    file's (`EnsembleSpec.metadata`)."""
    if not is_ensemble(path):
        return read_metadata(path)
    spec = EnsembleSpec.read(path)
    return spec.metadata([metadata.model for _, metadata in spec.member_files(path)])


class EnsembleEstimator(Estimator):
    """Every member on its own engine, each face aligned once; their distributions pooled."""

    def __init__(self, spec: EnsembleSpec, members: list[AgeEstimator]):
        self.spec, self.members = spec, members
        self.metadata = spec.metadata([m.model_config for m in members])
        self.device = members[0].device

    @classmethod
    def from_options(cls, options: AgeModelOptions, device: str) -> EnsembleEstimator:
        """The ensemble file `options.path` names; every member runs with the same engine setting."""
        spec = EnsembleSpec.read(options.path)
        members = [
            AgeEstimator.from_options(options.model_copy(update={"path": file}), device)
            for file, _ in spec.member_files(options.path)
        ]
        return cls(spec, members)

    @property
    def engine(self) -> str:
        """One engine name when every member runs on it, else each member's, joined by '+'."""
        names = [m.engine for m in self.members]
        return names[0] if len(set(names)) == 1 else "+".join(names)

    def predict_logits(self, crops: np.ndarray | torch.Tensor) -> np.ndarray:
        crops = as_aligned(crops)
        logits = [m.predict_logits(resize_crops(crops, m.model_config.input_size)) for m in self.members]
        return pool(logits, [m.model_config for m in self.members], self.spec.weights, self.spec.rule)

    def describe(self) -> dict[str, Any]:
        cfg = self.metadata.model
        model = {key: getattr(cfg, key) for key in ("input_size", *SHARED_KEYS, "temperature")}
        members = [
            {
                "name": m.metadata.name,
                "version": m.metadata.version,
                "weight": spec.weight,
                "sha256": spec.sha256,
                "model": m.model_config.to_dict(),
                "metrics": m.metadata.metrics,
                "engine": m.engine,
            }
            for m, spec in zip(self.members, self.spec.members)
        ]
        model["template"] = [list(p) for p in cfg.template]
        return {
            **self.metadata.to_dict(),
            "format": FORMAT,
            "model": {**model, "rule": self.spec.rule},
            "members": members,
            "device": self.device,
            "engine": self.engine,
        }
