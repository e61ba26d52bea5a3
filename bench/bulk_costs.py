"""What one face of a bulk run costs, stage by stage, in one process without Ray: the bound on its ratio
to the bare age network.

`python bench/bulk_costs.py [--chips 400] [--rounds 3] [--threads 1] [--config service.cfg]` decodes
`--chips` UTKFace chips under the service's limits (as the decoding tasks do), then times, in turns and
`--rounds` times (the median is printed, since this machine's speed moves from minute to minute):
  decode   the decoding task's work per chip (read, decode, upright; `bulk.rows.photo_row`);
  detect   RetinaFace on each chip;
  pipeline the service's `predict_many` on batches of `bulk.batch_photos` chips (detect, align, age);
  age      the age network alone on the same chips' aligned crops, in the config's batch size.
Each as milliseconds per chip on one process with `--threads` threads (the chips hold one face each).
`age / (decode + pipeline)` is what a bulk run on this layout could reach against the bare network on
the same layout if Ray, Arrow and the serializer cost nothing. Run it on a quiet machine; the CPU kind
is printed with the figures.

One-off measurement; it produces the per-stage costs of docs/bulk-annotation.md ("Speed").
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UTKFACE = ROOT.parent / "shared" / "data" / "utkface"
sys.path.insert(0, str(ROOT))


def per_chip_ms(step: Callable[[], object], chips: int) -> float:
    started = time.perf_counter()
    step()
    return (time.perf_counter() - started) * 1000 / chips


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from inference_service.bulk.rows import decoded_image, photo_row
    from inference_service.bulk.run import actor_settings
    from inference_service.inference import pipeline_from_settings, warm_up
    from inference_service.settings import Settings
    from inference_service.vision.devices import cpu_info

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chips", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="threads of each network")
    parser.add_argument("--config", default=str(ROOT / "service.cfg"))
    args = parser.parse_args(argv)

    settings = Settings.load(args.config)
    bulk = settings.bulk.model_copy(update={"threads": args.threads})
    settings = actor_settings(settings.model_copy(update={"bulk": bulk}))  # as an actor builds them
    pipeline = pipeline_from_settings(settings)
    warm_up(pipeline)
    names = sorted(p.name for p in UTKFACE.iterdir())
    sources = [str(UTKFACE / n) for n in names[:: max(1, len(names) // args.chips)][: args.chips]]
    limits = (settings.max_upload_bytes, settings.max_image_pixels, settings.decode_min_side)
    rows = [photo_row(source, *limits) for source in sources]
    images = [decoded_image(row) for row in rows if row["status"] == 200]
    crops = np.stack(
        [
            pipeline.estimator.align(image.pixels, face.landmarks)
            for image in images
            for face in pipeline.detector.detect(image.pixels)
        ]
    )
    batch, photos = settings.age_model.batch_size, settings.bulk.batch_photos

    steps = {
        "decode": lambda: [photo_row(source, *limits) for source in sources],
        "detect": lambda: [pipeline.detector.detect(image.pixels) for image in images],
        "pipeline": lambda: [
            pipeline.predict_many(images[k : k + photos]) for k in range(0, len(images), photos)
        ],
        "age": lambda: [
            pipeline.estimator.predict_crops(crops[k : k + batch]) for k in range(0, len(crops), batch)
        ],
    }
    timings: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            timings[name].append(per_chip_ms(step, len(images)))
    ms = {name: round(statistics.median(values), 2) for name, values in timings.items()}
    cpu = cpu_info()
    result = {
        "cpu": {"model": cpu.model, "kind": cpu.kind},
        "engine": pipeline.estimator.engine,
        "threads": args.threads,
        "chips": len(images),
        "faces": len(crops),
        "ms_per_chip": ms,
        "ms_per_chip_all_rounds": {name: [round(v, 2) for v in values] for name, values in timings.items()},
        "bound_vs_bare_same_layout": round(ms["age"] / (ms["decode"] + ms["pipeline"]), 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
