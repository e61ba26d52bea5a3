"""Video bytes to a few upright RGB frames, sampled in time, decoded in memory and bounded.

PyAV (FFmpeg, bundled in its wheel) reads the upload from memory: nothing is written to disk. Frames are
kept at `fps` per second of the video's own timestamps, up to `max_frames`; the stream's frame size, the
video's length and the bytes the kept frames hold are checked before they can cost memory. Bad input gets
the API's status codes through the image errors' base class: 415 for what is not a video or not a codec
FFmpeg decodes, 413 for a video over a limit, 400 for a broken or empty one.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..vision.decode import CorruptImage, ImageTooLarge, NotAnImage, UnsupportedFormat

# FFmpeg's names of the containers taken (MP4/MOV, Matroska/WebM, AVI): an image FFmpeg also opens
# (its jpeg_pipe, png_pipe...) is not a video.
CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi"})
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi")


class VideoOptions(BaseModel):
    """`[service.video]`: which frames of a video are looked at, and what one video may cost."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fps: float = Field(2.0, gt=0.0, le=60.0)  # frames kept per second of video
    max_frames: int = Field(120, ge=1, le=10_000)  # frames kept at most; the rest of the video is not read
    max_seconds: float = Field(60.0, gt=0.0, le=86_400)  # longer videos are refused (413)
    max_frame_pixels: int = Field(3840 * 2160, ge=1)  # larger frames are refused (413)
    max_decoded_bytes: int = Field(512 * 1024 * 1024, ge=1)  # the kept frames' pixels, in all


@dataclass(frozen=True)
class VideoFrame:
    """One kept frame: its number among the kept ones, its time in the video and its upright pixels."""

    index: int
    time_s: float
    pixels: np.ndarray  # H x W x 3 uint8 RGB


def _looks_like_video(data: bytes) -> bool:
    """The first bytes of an MP4/MOV, Matroska/WebM or AVI file, so a cut-short one is called broken."""
    return data[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free") or data[:4] in (
        b"\x1a\x45\xdf\xa3",
        b"RIFF",
    )


def _open(data: bytes) -> Any:
    import av

    if not data:
        raise NotAnImage("The upload is empty.")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except av.FFmpegError:
        if _looks_like_video(data):
            raise CorruptImage("The video data is broken or cut short.") from None
        raise NotAnImage("The upload is not a video FFmpeg can read.") from None
    if container.format.name not in CONTAINERS or not container.streams.video:
        container.close()
        raise NotAnImage("The upload is not a video (MP4, MOV, WebM, MKV or AVI with a video stream).")
    return container


def _check_stream(container: Any, limits: VideoOptions) -> Any:
    stream = container.streams.video[0]
    context = stream.codec_context
    if context is None or not context.name:
        raise UnsupportedFormat("The video's codec is not one FFmpeg decodes.")
    pixels = int(context.width or 0) * int(context.height or 0)
    if pixels > limits.max_frame_pixels:
        raise ImageTooLarge(
            f"The video's frames are {context.width}x{context.height}; the limit is "
            f"{limits.max_frame_pixels:,} pixels a frame."
        )
    seconds = (container.duration or 0) / 1_000_000
    if seconds > limits.max_seconds:
        raise ImageTooLarge(f"The video lasts {seconds:.0f} s; the limit is {limits.max_seconds:g} s.")
    stream.thread_type = "AUTO"
    return stream


def _upright(frame: Any) -> np.ndarray:
    """RGB pixels turned as the video's display matrix says (phones record sideways)."""
    pixels = frame.to_ndarray(format="rgb24")
    turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(pixels, k=turns)) if turns else pixels


def sample_frames(data: bytes, limits: VideoOptions | None = None) -> Iterator[VideoFrame]:
    """The kept frames of the video in `data`, in time order; raises an `ImageError` for bad input,
    including when the video turns out over a limit or broken after some frames (all or nothing: a
    caller keeps no partial answer)."""
    import av

    limits = limits or VideoOptions()
    container = _open(data)
    kept, held, next_time = 0, 0, 0.0
    try:
        stream = _check_stream(container, limits)
        for frame in container.decode(stream):
            time_s = float(frame.time) if frame.time is not None else kept / limits.fps
            if time_s > limits.max_seconds:
                raise ImageTooLarge(f"The video runs past {limits.max_seconds:g} s, the limit.")
            if time_s + 1e-6 < next_time:
                continue
            pixels = _upright(frame)
            held += pixels.nbytes
            if held > limits.max_decoded_bytes:
                raise ImageTooLarge(f"The video's kept frames pass {limits.max_decoded_bytes:,} bytes.")
            yield VideoFrame(kept, round(time_s, 3), pixels)
            kept += 1
            next_time = time_s + 1.0 / limits.fps
            if kept == limits.max_frames:
                break
    except av.FFmpegError:
        raise CorruptImage("The video data is broken.") from None
    finally:
        container.close()
    if kept == 0:
        raise CorruptImage("The video has no frames.")
