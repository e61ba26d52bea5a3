"""A y4m video for Chromium's fake camera (`--use-file-for-fake-video-capture=FILE.y4m`).

`pan_y4m` makes a slow back-and-forth pan over a photo: each frame a window of the photo scaled
to the video's height, moving sideways, so faces move across the picture the way a hand-held
camera moves them. Frames are 4:2:0 (C420jpeg, full-range YCbCr as Pillow's JPEG conversion).
Used by the live-mode end-to-end test and bench/live_measure.py; written to a temporary folder.
The Chromium both launch, and its flags, are here too, so the test and the measurement run the same browser.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FAKE_CAMERA_FLAGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def pan_frames(photo: Path, size: tuple[int, int], frames: int, travel: float) -> list[Image.Image]:
    """`frames` windows of `size` over the photo scaled to cover the window; the window travels
    `travel` of the video's width to the right over the first half, and back."""
    width, height = size
    image = Image.open(photo).convert("RGB")
    scale = max(height / image.height, width * (1 + travel) / image.width)
    scaled = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    span = min(scaled.width - width, round(width * travel))
    top = (scaled.height - height) // 2
    left0 = (scaled.width - width - span) // 2
    half = max(1, frames // 2)
    out = []
    for i in range(frames):
        step = i if i <= half else frames - i  # there and back: the loop has no jump
        left = left0 + round(span * step / half)
        out.append(scaled.crop((left, top, left + width, top + height)))
    return out


def write_y4m(frames: list[Image.Image], path: Path, fps: int) -> Path:
    width, height = frames[0].size
    if width % 2 or height % 2:
        raise ValueError("y4m 4:2:0 needs an even width and height")
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            y, cb, cr = frame.convert("YCbCr").split()
            half = (width // 2, height // 2)
            out.write(b"FRAME\n")
            out.write(y.tobytes())
            out.write(cb.resize(half, Image.Resampling.BOX).tobytes())
            out.write(cr.resize(half, Image.Resampling.BOX).tobytes())
    return path


def pan_y4m(
    photo: Path,
    path: Path,
    size: tuple[int, int] = (480, 360),
    frames: int = 16,
    fps: int = 8,
    travel: float = 0.12,
) -> Path:
    """The pan written as y4m at `path` (480x360, 16 frames: about 4 MB)."""
    return write_y4m(pan_frames(photo, size, frames, travel), path, fps)
