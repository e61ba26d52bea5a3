"""The real service with one injected fault: the detector raises on 37x23 images.

Everything else (models, settings, HTTP stack) is the shipped code; this only
lets a test trigger "the detector failed on one image" on demand.
Run: python -m tests.inference_service.faulty_server --config FILE --port PORT
"""

from __future__ import annotations

import sys

import numpy as np

from inference_service.__main__ import main
from inference_service.inference import pipeline_from_settings
from inference_service.settings import Settings
from inference_service.vision.detector import Detection, FaceDetector
from inference_service.vision.pipeline import FacePipeline

FAULT_WIDTH, FAULT_HEIGHT = 37, 23


class FaultyDetector:
    def __init__(self, real: FaceDetector):
        self.real = real
        self.name = real.name

    def detect(self, image: np.ndarray) -> list[Detection]:
        if image.shape[:2] == (FAULT_HEIGHT, FAULT_WIDTH):
            raise RuntimeError("injected detector fault")
        return self.real.detect(image)

    def describe(self) -> dict:
        return self.real.describe()


def faulty_pipeline(settings: Settings) -> FacePipeline:
    pipeline = pipeline_from_settings(settings)
    pipeline.detector = FaultyDetector(pipeline.detector)
    return pipeline


if __name__ == "__main__":
    sys.exit(main(pipeline_factory=faulty_pipeline))
