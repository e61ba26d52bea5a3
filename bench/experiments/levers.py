"""CPU milliseconds (process_time, every library at 1 thread) per stage and lever, on the three photos.

CPU time rather than wall time: the machine is shared with a training run, and CPU time of
single-threaded work is far less disturbed by that than wall time. Median of 5 after a warm-up.
Usage: python levers.py [CHECKPOINT]
"""

import statistics as st
import sys
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, ".")
torch.set_num_threads(1)
cv2.setNumThreads(1)
from inference_service.vision.model_config import decode_output, preprocess
from inference_service.vision.checkpoint import load_checkpoint
from inference_service.vision.decode import decode_image
from inference_service.vision.detector import _BGR_MEAN, RetinaFaceDetector
from inference_service.vision.predictor import AgeEstimator

ck = sys.argv[1] if len(sys.argv) > 1 else "models/age-resnet50.safetensors"
P = "../shared/data/photos/"
photos = {
    "portrait": P + "pexels/pexels-andrea-piacquadio-774909.jpg",
    "group": P + "pexels/pexels-andrea-piacquadio-2672979.jpg",
    "crowd": P + "dlib_examples/bald_guys.jpg",
}


def cpu(fn, n=5):
    fn()
    xs = []
    for _ in range(n):
        a = time.process_time()
        fn()
        xs.append((time.process_time() - a) * 1000)
    return round(st.median(xs), 1)


det = {s: RetinaFaceDetector(max_side=s, threads=1) for s in (100000, 1024, 640)}
onnx = AgeEstimator(ck, "cpu", engine="onnx", threads=1, batch_size=64)
torch_cl = AgeEstimator(ck, "cpu", engine="torch", batch_size=64)
naive, meta = load_checkpoint(ck)
cfg = meta.model
print("checkpoint input", cfg.input_size)


def naive_ages(crops):
    with torch.no_grad():
        for c in crops:
            x = torch.from_numpy(preprocess(c[None], cfg))
            decode_output(((naive(x) + naive(torch.flip(x, dims=[3]))) / 2).numpy(), cfg)


def old_blob(image):
    b = image[..., ::-1].astype(np.float32) - _BGR_MEAN
    return np.ascontiguousarray(b.transpose(2, 0, 1)[np.newaxis])


def new_blob(image):
    blob = np.empty((1, 3) + image.shape[:2], np.float32)
    for c in range(3):
        np.subtract(image[..., 2 - c], _BGR_MEAN[c], out=blob[0, c], dtype=np.float32)
    return blob


for name, path in photos.items():
    data = open(path, "rb").read()
    full = decode_image(data).pixels
    red = decode_image(data, min_side=768)
    small = cv2.resize(
        full,
        (
            round(full.shape[1] * 1024 / max(full.shape[:2])),
            round(full.shape[0] * 1024 / max(full.shape[:2])),
        ),
        interpolation=cv2.INTER_AREA,
    )
    dets = det[1024].detect(full)
    crops = np.stack([onnx.align(full, d.landmarks) for d in dets])
    row = {
        "decode full": cpu(lambda: decode_image(data)),
        "decode reduced": cpu(lambda: decode_image(data, min_side=768)),
        "resize to 1024": cpu(lambda: cv2.resize(full, small.shape[1::-1], interpolation=cv2.INTER_AREA)),
        "blob old": cpu(lambda: old_blob(small)),
        "blob new": cpu(lambda: new_blob(small)),
        "detect full-res": cpu(lambda: det[100000].detect(full), 3),
        "detect 1024 (from full)": cpu(lambda: det[1024].detect(full)),
        "detect (reduced px)": cpu(lambda: det[1024].detect(red.pixels)),
        "detect 640": cpu(lambda: det[640].detect(full)),
        "align all": cpu(lambda: [onnx.align(full, d.landmarks) for d in dets]),
        "age naive b1 eager": cpu(lambda: naive_ages(crops), 3),
        "age torch batched CL": cpu(lambda: torch_cl.predict_crops(crops), 3),
        "age onnx batched": cpu(lambda: onnx.predict_crops(crops), 3),
    }
    print(
        f"{name}: {len(dets)} faces (640: {len(det[640].detect(full))}, full-res: {len(det[100000].detect(full))}), reduced {red.pixels.shape[:2]}"
    )
    for k, v in row.items():
        print(f"   {k:26s} {v:8.1f} ms CPU")
