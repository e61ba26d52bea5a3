"""Per-crop cost of the age network (ONNX Runtime) by batch size: would micro-batching across requests pay?"""

import statistics as st
import sys
import time

import numpy as np

sys.path.insert(0, ".")
from inference_service.vision.predictor import AgeEstimator

CLOCK = time.process_time if "--cpu" in sys.argv else time.perf_counter
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 0
est = AgeEstimator(
    sys.argv[2] if len(sys.argv) > 2 else "models/age-resnet50.safetensors",
    "cpu",
    flip=True,
    batch_size=64,
    engine="onnx",
    threads=threads,
)
S = est.model_config.input_size
rng = np.random.default_rng(0)
for faces in (1, 2, 4, 8, 24):
    crops = rng.integers(0, 256, (faces, S, S, 3), dtype=np.uint8)
    est.predict_crops(crops)
    xs = []
    for _ in range(max(3, 24 // faces)):
        a = CLOCK()
        est.predict_crops(crops)
        xs.append(CLOCK() - a)
    m = st.median(xs) * 1000
    print(
        f"S={S} threads={threads} faces={faces} (batch {2 * faces} with flip): {m:.1f} ms, {m / faces:.1f} ms/face"
    )
