"""Do this machine's cores add to each other for the two networks? 1 vs 2 threads, 1 vs 2 processes.

`python bench/core_scaling.py [--seconds 6] [--config service.cfg]` runs the age network (the
config's engine, batch size and flip, on aligned-size crops) and RetinaFace (on UTKFace chips) for
`--seconds` each: one process with 1 thread, one with 2, and two processes of 1 thread at once.
The answer bounds bulk annotation (docs/bulk-annotation.md): if two single-threaded processes do
no more than one, the cores share their units and detection competes with the age network for
them. Run it on a quiet machine; it prints faces (or chips) per second and the CPU kind.

One-off measurement; it produces the core-scaling figures of docs/bulk-annotation.md ("Speed").
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UTKFACE = ROOT.parent / "shared" / "data" / "utkface"
LAYOUTS = ((1, 1), (2, 1), (1, 2))  # (threads, processes)


def _age_step(config: str, threads: int) -> tuple[Callable[[], object], int]:
    import numpy as np

    from inference_service.settings import Settings
    from inference_service.vision.pipeline import build_estimator

    settings = Settings.load(config)
    estimator = build_estimator(settings.age_model.model_copy(update={"threads": threads}), "cpu")
    size, batch = estimator.model_config.input_size, settings.age_model.batch_size
    crops = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    return lambda: estimator.predict_crops(crops), batch


def _detect_step(config: str, threads: int) -> tuple[Callable[[], object], int]:
    from inference_service.settings import Settings
    from inference_service.vision.decode import decode_image
    from inference_service.vision.pipeline import build_detector

    settings = Settings.load(config)
    detector = build_detector(settings.detector.model_copy(update={"threads": threads}))
    names = sorted(os.listdir(UTKFACE))[::100][:16]
    chips = [decode_image((UTKFACE / name).read_bytes(), 40_000_000, 0).pixels for name in names]
    return lambda: [detector.detect(chip) for chip in chips], len(chips)


def _worker(kind: str, config: str, threads: int, seconds: float, barrier: object, out: object) -> None:
    """One process: build the network, warm it, wait for the others, then count for `seconds`."""
    sys.path.insert(0, str(ROOT))
    step, per_step = (_age_step if kind == "age" else _detect_step)(config, threads)
    step()
    step()
    barrier.wait()  # type: ignore[attr-defined]
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step()
        done += per_step
    out.put(done / (time.perf_counter() - started))  # type: ignore[attr-defined]


def rate(kind: str, config: str, threads: int, processes: int, seconds: float) -> float:
    """Items per second of `processes` processes of `threads` threads running at once, summed."""
    context = mp.get_context("spawn")
    barrier, out = context.Barrier(processes), context.Queue()
    args = (kind, config, threads, seconds, barrier, out)
    workers = [context.Process(target=_worker, args=args) for _ in range(processes)]
    for worker in workers:
        worker.start()
    total = sum(out.get() for _ in workers)
    for worker in workers:
        worker.join()
    return round(total, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="counting time per layout")
    parser.add_argument("--config", default=str(ROOT / "service.cfg"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from inference_service.vision.devices import cpu_info

    result: dict = {"cpu": cpu_info().describe(), "cores": os.cpu_count()}
    for kind in ("age", "detect"):
        for threads, processes in LAYOUTS:
            key = f"{kind}: {threads} thread(s) x {processes} process(es)"
            result[key] = rate(kind, args.config, threads, processes, args.seconds)
            print(f"{key}: {result[key]} per s", flush=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
