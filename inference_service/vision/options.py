"""The knobs of the two models, with their defaults: the one place for them.

The service's settings hold one of each as a section (`[service.detector]` and
`[service.age_model]` in service.cfg, `AGE_DETECTOR__<KEY>` and `AGE_AGE_MODEL__<KEY>` in the
environment) and hand them down as they are; the training CLI builds the same objects, so a
photo meets the same detector and age model whichever door it comes through. A new knob is one
field here plus its line in docs/configuration.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .engines import ENGINE_NAMES


class DetectorOptions(BaseModel):
    """RetinaFace MobileNet-0.25 and what the pipeline keeps of its faces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score_threshold: float = Field(0.9, gt=0.0, lt=1.0)
    nms_threshold: float = Field(0.4, gt=0.0, le=1.0)
    max_side: int = Field(1024, ge=64, le=8192)  # longest side of the copy the detector sees
    min_face: float = Field(0.0, ge=0.0)  # drop faces whose shorter side is below this many pixels
    # A face whose shorter side is below this many pixels in the shrunk copy sends the tiles around it to a
    # second pass at full resolution, where the faces too small for the copy are found; 0 = off.
    small_face: float = Field(24.0, ge=0.0)
    runtime: Literal["onnxruntime", "openvino"] = "onnxruntime"  # what runs the graph (fp32 either way)
    threads: int = Field(0, ge=0, le=256)  # the runtime's threads; 0 = its default (all cores)
    max_faces: int = Field(100, ge=1, le=10_000)  # more faces: the largest are kept, "truncated": true


class AgeModelOptions(BaseModel):
    """The age network: which checkpoint, on which engine, how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Path("models/age-ensemble.json")  # an ensemble file, or one checkpoint
    engine: Literal[ENGINE_NAMES] = "auto"  # auto or a name in engines.ENGINES
    threads: int = Field(0, ge=0, le=256)  # ONNX Runtime or OpenVINO threads; 0 = all cores
    torch_threads: int = Field(0, ge=0, le=256)  # torch engines only; 0 = torch's default
    batch_size: int = Field(32, ge=1, le=1024)  # face crops per forward pass
    flip: bool = True  # test-time horizontal flip: the average of two views
