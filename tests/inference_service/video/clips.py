"""Small test videos made in memory from ../shared photos with PyAV (H.264 in MP4, or VP9 in WebM)."""

from __future__ import annotations

import io
from collections.abc import Iterable

import av
import numpy as np
from PIL import Image


def encode(
    frames: Iterable[np.ndarray], fps: int = 10, container: str = "mp4", codec: str = "libx264"
) -> bytes:
    """RGB frames (all one even size) as a video file's bytes."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = None
        for pixels in frames:
            if stream is None:
                stream = output.add_stream(codec, rate=fps)
                stream.height, stream.width = pixels.shape[:2]
                stream.pix_fmt = "yuv420p"
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def pan(
    photo: Image.Image,
    seconds: float = 4.0,
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    zoom: float = 1.5,
) -> list[np.ndarray]:
    """A camera panning slowly left to right across `photo`, scaled to `zoom` times the frame's height
    (its middle band in view)."""
    width, height = size
    scale = zoom * height / photo.height
    wide = np.asarray(photo.convert("RGB").resize((round(photo.width * scale), round(photo.height * scale))))
    top = (wide.shape[0] - height) // 2
    travel = wide.shape[1] - width
    if travel < 0:
        raise ValueError("the photo is too narrow for this pan; raise zoom")
    count = round(seconds * fps)
    return [
        wide[top : top + height, round(travel * i / max(1, count - 1)) :][:, :width].copy()
        for i in range(count)
    ]


def enter_and_leave(
    face: Image.Image, seconds: float = 6.0, fps: int = 10, size: tuple[int, int] = (640, 360)
):
    """A grey scene a face enters at a third of the clip and leaves at two thirds; and the times it shows."""
    width, height = size
    portrait = np.asarray(face.convert("RGB").resize((round(face.width * height / face.height), height)))
    count = round(seconds * fps)
    frames = []
    for i in range(count):
        frame = np.full((height, width, 3), 120, dtype=np.uint8)
        if count / 3 <= i < 2 * count / 3:
            frame[:, : min(width, portrait.shape[1])] = portrait[:, :width]
        frames.append(frame)
    return frames, (count / 3 / fps, (2 * count / 3 - 1) / fps)
