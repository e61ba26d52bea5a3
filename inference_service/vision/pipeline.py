"""The one factory for the face pipeline: detector + age model, built from `PipelineOptions`.

The service makes the options from its settings (`Settings.pipeline_options()`), and
so do the training CLI's `predict`, `evaluate`, `prepare` and `template`, so a photo
meets the same detector and age model whichever door it comes through. The options
have no defaults of their own: the settings class is the one place for those.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .detector import RetinaFaceDetector
from .predictor import AgeEstimator, FacePipeline


@dataclass(frozen=True)
class PipelineOptions:
    model_path: str | Path
    device: str
    flip: bool
    batch_size: int
    engine: str  # how the age network runs: auto | torch | onnx | torch-fp16
    engine_threads: int
    detector_score_threshold: float
    detector_nms_threshold: float
    detector_max_side: int
    detector_min_face: float
    detector_threads: int
    max_faces: int


def build_detector(options: PipelineOptions) -> RetinaFaceDetector:
    return RetinaFaceDetector(
        score_threshold=options.detector_score_threshold,
        nms_threshold=options.detector_nms_threshold,
        max_side=options.detector_max_side,
        threads=options.detector_threads,
        min_face=options.detector_min_face,
    )


def build_estimator(options: PipelineOptions) -> AgeEstimator:
    return AgeEstimator(
        options.model_path,
        device=options.device,
        flip=options.flip,
        batch_size=options.batch_size,
        engine=options.engine,
        threads=options.engine_threads,
    )


def build_pipeline(options: PipelineOptions) -> FacePipeline:
    return FacePipeline(build_detector(options), build_estimator(options), max_faces=options.max_faces)
