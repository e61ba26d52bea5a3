"""Frames and faces per second of the video path on a 30 s clip: `python bench/video_rate.py`.

The clip is made in memory (a slow pan across ../shared's group photo, 640 x 360 at 25 fps, H.264, as the
tests make theirs), then run in this process as POST /predict/video runs it: sampled at `[service.video]
fps`, each frame through the service's pipeline, the tracks combined by the one serializer. Prints the
decode time, frames/s and faces/s of the whole path, the tracks found and the CPU kind. Run it on a quiet
machine: the figure in docs/videos.md comes from here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GROUP = ROOT.parent / "shared" / "data" / "photos" / "pexels" / "pexels-andrea-piacquadio-2672979.jpg"


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    from inference_service.answers import AgeCheckRequest, video_answer
    from inference_service.inference import pipeline_from_settings, warm_up
    from inference_service.settings import Settings
    from inference_service.video.frames import sample_frames
    from inference_service.vision.devices import cpu_info
    from tests.inference_service.video.clips import encode, pan

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(ROOT / "service.cfg"))
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    settings = Settings.load(args.config)
    pipeline = pipeline_from_settings(settings)
    warm_up(pipeline)
    clip = encode(pan(Image.open(GROUP), seconds=args.seconds, fps=25, zoom=1.5), fps=25)
    started = time.perf_counter()
    frames = list(sample_frames(clip, settings.video))
    decoded = time.perf_counter()
    predictions = [(frame.time_s, pipeline(frame.pixels)) for frame in frames]
    height, width = frames[0].pixels.shape[:2]
    body = video_answer(
        predictions,
        (width, height),
        AgeCheckRequest(),
        metadata=pipeline.metadata,
        device="cpu",
        timings_ms={},
    )
    seconds = time.perf_counter() - started
    faces = sum(len(p.faces) for _, p in predictions)
    result = {
        "cpu": cpu_info().kind,
        "model": pipeline.metadata.version,
        "engine": settings.age_model.engine,
        "clip_s": args.seconds,
        "clip_bytes": len(clip),
        "frames": len(frames),
        "faces": faces,
        "tracks": len(body["tracks"]),
        "decode_ms": round((decoded - started) * 1000, 1),
        "frames_per_s": round(len(frames) / seconds, 2),
        "faces_per_s": round(faces / seconds, 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
