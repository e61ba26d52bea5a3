"""Where the service's memory goes: resident memory step by step, then under load.

    python bench/memory_breakdown.py [--clients 16] [--env NAME=VALUE ...] [--config FILE]

1. In a fresh child process, builds the pipeline the way the service does and reports the
   resident set (VmRSS) after each step: interpreter, NumPy + Pillow, ONNX Runtime, the service's
   modules, the detector, the age model, and three crowd photos through the pipeline; the last
   step says whether torch ended up loaded (only the torch engines load it).
2. Starts the real service (`python -m inference_service`) with the same config and reports its
   VmRSS when ready, after one crowd request, and its peak (VmHWM) after `--clients` concurrent
   clients sent crowd photos for a while.

`--env` sets variables for both children (e.g. MALLOC_ARENA_MAX=2), so a change can be compared
with the default in two runs. Memory, not time, is measured: other load on the machine only
changes how long it takes.

One-off measurement; it produces the memory table of docs/deployment.md and docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchmark as bench  # the benchmark's server and client helpers, one copy of them
from processes import free_port, memory_mb

ROOT = bench.ROOT
CROWD = bench.DEFAULT_PHOTOS / bench.PHOTOS["crowd"]


def steps(config: str, photo: str) -> None:
    """Runs in the child: print one JSON line per step (name, VmRSS MB)."""

    def report(name: str) -> None:
        print(json.dumps({"step": name, "rss_mb": memory_mb("self", "VmRSS")}), flush=True)

    report("interpreter")
    import numpy  # noqa: F401
    import PIL.Image  # noqa: F401

    report("+ numpy, Pillow")
    import onnxruntime  # noqa: F401

    report("+ onnxruntime")
    sys.path.insert(0, str(ROOT))
    import inference_service.app  # noqa: F401 - FastAPI, pydantic, OpenCV: what the service imports
    from inference_service.settings import Settings
    from inference_service.vision.decode import decode_image
    from inference_service.vision.pipeline import FacePipeline, build_detector, build_estimator

    settings = Settings.load(config)
    report("+ the service's modules (FastAPI, pydantic, OpenCV)")
    detector = build_detector(settings.detector)
    report("+ detector (RetinaFace)")
    estimator = build_estimator(settings.age_model, settings.device)
    report(f"+ age model ({estimator.engine})")
    pipeline = FacePipeline(detector, estimator, max_faces=settings.detector.max_faces)
    decoded = decode_image(Path(photo).read_bytes())
    for _ in range(3):
        faces = pipeline(decoded).faces
    report(f"+ 3 crowd photos ({len(faces)} faces each); torch loaded: {'torch' in sys.modules}")


def step_breakdown(config: Path, env: dict[str, str]) -> list[dict]:
    command = [sys.executable, __file__, "--child-steps", str(config), str(CROWD)]
    out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    previous = 0.0
    for row in rows:
        row["delta_mb"] = round(row["rss_mb"] - previous, 1)
        previous = row["rss_mb"]
    return rows


def under_load(config: Path, env: dict[str, str], clients: int, per_client: int) -> dict:
    port = free_port()
    command = [sys.executable, "-m", "inference_service", "--port", str(port), "--config", str(config)]
    with bench.running(command, port, env, 600) as (pid, _):
        figures = {"ready_rss_mb": memory_mb(pid, "VmRSS")}
        body, boundary = bench.multipart(CROWD)
        bench.Client(port, body, boundary).post()
        figures["after_one_crowd_rss_mb"] = memory_mb(pid, "VmRSS")
        pool = [bench.Client(port, body, boundary) for _ in range(clients)]
        with ThreadPoolExecutor(clients) as executor:
            list(executor.map(lambda c: [c.post() for _ in range(per_client)], pool))
        figures[f"after_{clients}_clients_rss_mb"] = memory_mb(pid, "VmRSS")
        figures["peak_rss_mb"] = memory_mb(pid, "VmHWM")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=3, help="crowd requests each client sends")
    parser.add_argument("--config", help="extra service config (TOML [service] table)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--child-steps", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_steps:
        steps(*args.child_steps)
        return 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.update(pair.split("=", 1) for pair in args.env)
    with tempfile.TemporaryDirectory() as tmp:
        settings = 'log_level = "warning"\nmax_queue_wait_s = 600\n'  # measure, never refuse
        config = bench.write_service_config(Path(tmp) / "memory.cfg", args.config, settings)
        print(f"settings: {args.env or 'defaults'}")
        for row in step_breakdown(config, env):
            print(f"  {row['step']:<32} {row['rss_mb']:>8.1f} MB  ({row['delta_mb']:+.1f})")
        load = under_load(config, env, args.clients, args.per_client)
        for name, value in load.items():
            print(f"  service {name:<30} {value:>8.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
