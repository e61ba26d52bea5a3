"""Ages of the fast path (reduced decode + ONNX) vs the plain path (full decode + torch fp32), per face.

Usage: python fast_vs_plain.py CHECKPOINT [MIN_SIDE]
"""

import sys

import numpy as np

sys.path.insert(0, ".")
from inference_service.vision.decode import decode_image
from inference_service.vision.detector import RetinaFaceDetector
from inference_service.vision.predictor import AgeEstimator, FacePipeline

ck = sys.argv[1]
min_side = int(sys.argv[2]) if len(sys.argv) > 2 else 768
P = "../shared/data/photos/"
paths = [
    P + "pexels/pexels-andrea-piacquadio-774909.jpg",
    P + "pexels/pexels-andrea-piacquadio-2672979.jpg",
    P + "pexels/pexels-alexey-makhinko-929436.jpg",
    P + "dlib_examples/bald_guys.jpg",
    P + "pexels/pexels-andrea-piacquadio-834863.jpg",
    P + "pexels/pexels-mentatdgt-937416.jpg",
]
det = RetinaFaceDetector()
plain = FacePipeline(det, AgeEstimator(ck, "cpu", engine="torch"))
fast = FacePipeline(det, AgeEstimator(ck, "cpu", engine="onnx"))
fast_full = []
alld = []
allr = []
for path in paths:
    data = open(path, "rb").read()
    full = decode_image(data)
    a = plain(full.pixels)
    b = fast(decode_image(data, min_side=min_side))
    c = fast(full.pixels)
    ba = np.array([f.box for f in a.faces])
    bb = np.array([f.box for f in b.faces])
    bc = np.array([f.box for f in c.faces])
    ob = [int(np.argmin(np.abs(bb - x).sum(1))) for x in ba]
    oc = [int(np.argmin(np.abs(bc - x).sum(1))) for x in ba]
    d_red = np.array([b.faces[j].age - f.age for f, j in zip(a.faces, ob)])
    d_rt = np.array([c.faces[j].age - f.age for f, j in zip(a.faces, oc)])
    alld += list(d_red)
    allr += list(d_rt)
    print(
        f"{path.split('/')[-1]}: {len(a.faces)} faces; reduced+onnx vs plain max {np.abs(d_red).max():.2f} "
        f"mean {np.abs(d_red).mean():.2f}; onnx-only vs plain max {np.abs(d_rt).max():.2f}"
    )
print(
    f"ALL {len(alld)} faces: reduced+onnx max {np.abs(alld).max():.2f} mean {np.abs(alld).mean():.3f}; onnx-only max {np.abs(allr).max():.3f}"
)
