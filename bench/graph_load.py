"""How long each graph engine takes to load the age graph: ONNX against OpenVINO IR, and the int8 IR.

    python bench/graph_load.py [--repeats 5]

Each load runs in a fresh process (nothing compiled is reused; the files are in the page cache, as on
a later start) with the engines' own settings: ONNX Runtime with full graph optimisation, OpenVINO with
the bf16 hint and the latency mode. The fp32 IR is written from the ONNX graph without fp16 compression
(the same arithmetic). Prints one JSON line per format, median and range of read and compile seconds,
with the CPU kind.

One-off measurement; it produces the graph-loading times of docs/deployment.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from inference_service.vision.devices import cpu_info  # noqa: E402
from inference_service.vision.engines import file_sha256  # noqa: E402
from inference_service.vision.graph_export import graph_for  # noqa: E402

CHECKPOINT = ROOT / "models" / "age-resnet50.safetensors"

ONE_LOAD = """
import json, sys, time
runtime, path = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if runtime == "onnxruntime":
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    imported = time.perf_counter()
    ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    read = compiled = time.perf_counter()
else:
    import openvino as ov
    core = ov.Core()
    imported = time.perf_counter()
    model = core.read_model(path)
    read = time.perf_counter()
    core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY"})
    compiled = time.perf_counter()
print(json.dumps({"import_s": imported - started, "read_s": read - imported, "compile_s": compiled - read}))
"""


def load(runtime: str, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", ONE_LOAD, runtime, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(rows: list[dict]) -> dict:
    out = {}
    for key in ("import_s", "read_s", "compile_s"):
        values = [row[key] for row in rows]
        out[key] = round(statistics.median(values), 3)
        out[key.replace("_s", "_range_s")] = [round(min(values), 3), round(max(values), 3)]
    out["load_s"] = round(statistics.median(row["read_s"] + row["compile_s"] for row in rows), 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import openvino as ov

    onnx = graph_for(CHECKPOINT, file_sha256(CHECKPOINT))
    kind = cpu_info().kind
    with tempfile.TemporaryDirectory() as folder:
        ir = Path(folder) / "age-resnet50.xml"
        ov.save_model(ov.Core().read_model(onnx), ir, compress_to_fp16=False)
        cases = [("onnxruntime", "onnx", onnx), ("openvino", "onnx", onnx), ("openvino", "ir", ir)]
        int8 = CHECKPOINT.with_name(CHECKPOINT.stem + ".int8.xml")
        if int8.is_file():
            cases.append(("openvino", "int8 ir", int8))
        for runtime, form, path in cases:
            rows = [load(runtime, path) for _ in range(args.repeats)]
            print(
                json.dumps({"runtime": runtime, "graph": form, "cpu_kind": kind, **summary(rows)}), flush=True
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
