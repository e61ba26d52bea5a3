"""ONNX Runtime spinning on vs off (2 threads): wall and process CPU per pipeline call on the crowd photo."""

import statistics as st
import sys
import time

sys.path.insert(0, ".")
from inference_service.vision.decode import decode_image
from inference_service.vision.detector import RetinaFaceDetector
from inference_service.vision.predictor import AgeEstimator, FacePipeline

ck = sys.argv[1]
data = open("../shared/data/photos/dlib_examples/bald_guys.jpg", "rb").read()
pipes = {
    spin: FacePipeline(RetinaFaceDetector(spinning=spin), AgeEstimator(ck, "cpu", spinning=spin))
    for spin in (True, False)
}
res = {True: ([], []), False: ([], [])}
for rnd in range(6):  # interleaved A/B
    for spin, pipe in pipes.items():
        if rnd == 0:
            pipe(decode_image(data, min_side=768))
            continue
        w, c = time.perf_counter(), time.process_time()
        pipe(decode_image(data, min_side=768))
        res[spin][0].append((time.perf_counter() - w) * 1000)
        res[spin][1].append((time.process_time() - c) * 1000)
for spin, (w, c) in res.items():
    print(f"spinning={spin}: wall {st.median(w):.0f} ms, process CPU {st.median(c):.0f} ms")
