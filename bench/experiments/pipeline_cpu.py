"""Whole pipeline, service vs naive, in CPU milliseconds per image (every library at 1 thread).

Robust to a shared machine: CPU time, not wall time. Usage: python pipeline_cpu.py CHECKPOINT
"""

import statistics as st
import sys
import time

import cv2
import torch

sys.path.insert(0, ".")
torch.set_num_threads(1)
cv2.setNumThreads(1)
from inference_service.vision.model_config import decode_output, preprocess
from inference_service.vision.align import align_face
from inference_service.vision.checkpoint import load_checkpoint
from inference_service.vision.decode import decode_image
from inference_service.vision.detector import RetinaFaceDetector
from inference_service.vision.predictor import AgeEstimator, FacePipeline

ck = sys.argv[1]
P = "../shared/data/photos/"
photos = {
    "portrait": P + "pexels/pexels-andrea-piacquadio-774909.jpg",
    "group": P + "pexels/pexels-andrea-piacquadio-2672979.jpg",
    "crowd": P + "dlib_examples/bald_guys.jpg",
}
service = FacePipeline(RetinaFaceDetector(threads=1), AgeEstimator(ck, "cpu", threads=1))
naive_det = RetinaFaceDetector(max_side=100_000, threads=1)
model, meta = load_checkpoint(ck)
cfg = meta.model


def naive(data):
    image = decode_image(data).pixels
    out = []
    with torch.no_grad():
        for d in naive_det.detect(image):
            crop = align_face(image, d.landmarks, cfg.template, cfg.input_size)
            x = torch.from_numpy(preprocess(crop[None], cfg))
            logits = (model(x) + model(torch.flip(x, dims=[3]))) / 2
            out.append(float(decode_output(logits.numpy(), cfg).age[0]))
    return out


def cpu(fn, n):
    fn()
    xs = []
    for _ in range(n):
        a = time.process_time()
        fn()
        xs.append((time.process_time() - a) * 1000)
    return st.median(xs)


print("checkpoint input", cfg.input_size)
for name, path in photos.items():
    data = open(path, "rb").read()
    faces = len(service(decode_image(data)).faces)
    s = cpu(lambda: service(decode_image(data)), 5)
    b = cpu(lambda: naive(data), 3)
    print(
        f"{name} ({faces} faces): service {s:.0f} ms CPU, naive {b:.0f} ms CPU, ratio {b / s:.2f}x; "
        f"faces per CPU-second: service {1000 * faces / s:.1f}, naive {1000 * faces / b:.1f}"
    )
