"""Checkpoint format: safetensors weights plus JSON metadata in the same file.

No pickle is involved anywhere, so loading a checkpoint cannot run code. The
metadata carries the model config (input size, mean/std, template, head, age
range), so the service reads preprocessing from the file it serves. Reading the
metadata needs no torch; building the network (`load_checkpoint`) does, and imports it
then, so a service on a compiled-graph engine never loads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from .model_config import ModelConfig

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT = "age-estimator/1"
METADATA_KEY = "age_estimator"
PREPROCESSING_KEYS = ("arch", "head", "input_size", "mean", "std", "template", "age_min", "age_max")


class CheckpointError(RuntimeError):
    """The file is missing, unreadable, or does not describe the network it holds."""


@dataclass
class CheckpointMetadata:
    model: ModelConfig
    name: str = "resnet50-age"
    version: str = "0.0.0"
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    training_config: dict[str, Any] = field(default_factory=dict)
    code_version: str = "unknown"
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "model": self.model.to_dict(),
            "metrics": self.metrics,
            "data": self.data,
            "training_config": self.training_config,
            "code_version": self.code_version,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointMetadata:
        if data.get("format") != FORMAT:
            raise CheckpointError(
                f"unsupported checkpoint format {data.get('format')!r}; expected {FORMAT!r}"
            )
        missing = [key for key in PREPROCESSING_KEYS if key not in (data.get("model") or {})]
        if missing:
            # Preprocessing must come from the file that was trained with it, never from defaults.
            raise CheckpointError(f"checkpoint model metadata lacks {', '.join(missing)}")
        try:
            model = ModelConfig.from_dict(data["model"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint model metadata is invalid: {exc}") from None
        return cls(
            model=model,
            name=str(data.get("name", "resnet50-age")),
            version=str(data.get("version", "0.0.0")),
            metrics=dict(data.get("metrics") or {}),
            data=dict(data.get("data") or {}),
            training_config=dict(data.get("training_config") or {}),
            code_version=str(data.get("code_version", "unknown")),
            created=str(data.get("created", "")),
        )


def save_checkpoint(
    path: str | Path, model: nn.Module, metadata: CheckpointMetadata, fp16: bool = True
) -> Path:
    """Write weights (fp16 by default: half the size, same ages) and metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu")
        if fp16 and tensor.is_floating_point():
            tensor = tensor.half()
        state[key] = tensor.contiguous()
    save_file(state, str(path), metadata={METADATA_KEY: json.dumps(metadata.to_dict())})
    path.chmod(0o644)  # safetensors writes 0600; a service running as another user must read it
    return path


def rewrite_metadata(source: str | Path, metadata: CheckpointMetadata, target: str | Path) -> Path:
    """Copy `source` to `target` with new metadata; the weights are copied bit for bit."""
    from safetensors.numpy import save_file

    with safe_open(str(source), framework="numpy") as handle:
        state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
    target = Path(target)
    save_file(state, str(target), metadata={METADATA_KEY: json.dumps(metadata.to_dict())})
    target.chmod(0o644)
    return target


def read_metadata(path: str | Path) -> CheckpointMetadata:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            raw = (handle.metadata() or {}).get(METADATA_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file: {exc}") from None
    if raw is None:
        raise CheckpointError(f"checkpoint {path} carries no '{METADATA_KEY}' metadata")
    try:
        return CheckpointMetadata.from_dict(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {path} metadata is not JSON: {exc}") from None


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, CheckpointMetadata]:
    """Build the network the metadata describes and fill it, refusing any mismatch."""
    import torch

    from .age_model import build_model

    metadata = read_metadata(path)
    with torch.device("meta"):  # no random init, no memory: every tensor comes from the file
        model = build_model(metadata.model)
    expected = model.state_dict()
    try:
        with safe_open(str(path), framework="pt") as handle:
            keys = set(handle.keys())
            missing = sorted(set(expected) - keys)
            unexpected = sorted(keys - set(expected))
            if missing or unexpected:
                raise CheckpointError(
                    f"checkpoint {path} does not match its metadata ({metadata.model.arch}, head "
                    f"{metadata.model.head}): missing {missing[:3]}, unexpected {unexpected[:3]}"
                )
            state = {}
            for key in expected:
                tensor = handle.get_tensor(key)
                want = tuple(expected[key].shape)
                if tuple(tensor.shape) != want:
                    raise CheckpointError(
                        f"checkpoint {path} does not match its metadata: {key} has shape "
                        f"{tuple(tensor.shape)}, the {metadata.model.head} head needs {want}"
                    )
                state[key] = tensor.to(expected[key].dtype)
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt: {exc}") from None
    model.load_state_dict(state, assign=True)
    model.eval()
    return model.to(device), metadata
