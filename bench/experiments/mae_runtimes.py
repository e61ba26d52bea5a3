"""Held-out MAE of one checkpoint through each runtime (torch fp32, ONNX fp32, optional ONNX int8 static).

Usage: python mae_runtimes.py CHECKPOINT [--int8]
"""

import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, ".")
from inference_service.vision.model_config import decode_output, preprocess
from inference_service.vision.checkpoint import load_checkpoint, read_metadata
from inference_service.vision.graph_export import export_onnx
from inference_service.vision.predictor import AgeEstimator
from training.data import load_split

ck = sys.argv[1]
meta = read_metadata(ck)
S = meta.model.input_size
LIMIT = int(next((a.split("=")[1] for a in sys.argv if a.startswith("--limit=")), 0))
torch.set_num_threads(1)
faces = load_split("data/prepared/utkface-160", "test", S, limit=LIMIT)
crops = faces.images.permute(0, 2, 3, 1).contiguous().numpy()
ages = faces.ages.numpy()
print("test crops", len(crops), "input", S)
res = {}
for runtime in ("torch", "onnx"):
    est = AgeEstimator(ck, "cpu", flip=True, batch_size=64, engine=runtime)
    a = time.perf_counter()
    pred = est.predict_crops(crops).age
    dt = time.perf_counter() - a
    res[runtime] = pred
    print(f"{runtime}: MAE {np.abs(pred - ages).mean():.4f}  ({len(crops) / dt:.1f} faces/s)")
print("max |torch-onnx| per face", float(np.abs(res["torch"] - res["onnx"]).max()))
if "--int8" in sys.argv:
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model, _ = load_checkpoint(ck)
    d = tempfile.mkdtemp()
    fp = os.path.join(d, "m.onnx")
    open(fp, "wb").write(export_onnx(model, S))
    train = load_split("data/prepared/utkface-160", "train", S, limit=256)
    calib = preprocess(train.images.permute(0, 2, 3, 1).numpy(), meta.model)

    class R(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": calib[i : i + 32]} for i in range(0, len(calib), 32)])

        def get_next(self):
            return next(self.it, None)

    pp = os.path.join(d, "pp.onnx")
    quant_pre_process(fp, pp)
    q = os.path.join(d, "q.onnx")
    quantize_static(
        pp,
        q,
        R(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    sess = ort.InferenceSession(q, providers=["CPUExecutionProvider"])
    x = torch.from_numpy(preprocess(crops, meta.model))
    a = time.perf_counter()
    outs = []
    for i in range(0, len(x), 64):
        b = x[i : i + 64]
        l1 = sess.run(None, {"input": b.numpy()})[0]
        l2 = sess.run(None, {"input": torch.flip(b, dims=[3]).numpy()})[0]
        outs.append(decode_output((l1 + l2) / 2, meta.model).age)
    dt = time.perf_counter() - a
    pred = np.concatenate(outs)
    print(
        f"onnx int8 static: MAE {np.abs(pred - ages).mean():.4f}  ({len(crops) / dt:.1f} faces/s); "
        f"max |torch-int8| {float(np.abs(res['torch'] - pred).max()):.2f}, mean {float(np.abs(res['torch'] - pred).mean()):.3f}"
    )
