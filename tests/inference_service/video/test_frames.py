"""Sampling a video in memory, and a clear error with the API's status for every bad one."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from inference_service.video.frames import VideoOptions, sample_frames
from inference_service.vision.decode import ImageError

from ..server import DLIB
from .clips import encode

FRAMES = [np.full((48, 64, 3), 10 * i, dtype=np.uint8) for i in range(25)]  # 2.5 s at 10 fps
CLIP = encode(FRAMES, fps=10)


def test_frames_are_sampled_at_fps_in_time_order_up_to_the_cap() -> None:
    frames = list(sample_frames(CLIP, VideoOptions(fps=2)))
    assert [f.time_s for f in frames] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert [f.index for f in frames] == list(range(5))
    assert all(f.pixels.shape == (48, 64, 3) and f.pixels.dtype == np.uint8 for f in frames)
    assert abs(int(frames[2].pixels.mean()) - 100) <= 3  # the frame at 1.0 s is frame 10 of the clip
    assert len(list(sample_frames(CLIP, VideoOptions(fps=2, max_frames=3)))) == 3


def test_webm_reads_too() -> None:
    clip = encode(FRAMES[:10], fps=10, container="webm", codec="libvpx-vp9")
    assert len(list(sample_frames(clip, VideoOptions(fps=10)))) == 10


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 415, "empty"),
        (b"text, not a video\n" * 50, 415, "not a video"),
        ((DLIB / "dogs.jpg").read_bytes(), 415, "not a video"),  # an image renamed .mp4
        (CLIP[: len(CLIP) // 2], 400, "broken or cut short"),
        (CLIP[:40], 400, "broken or cut short"),
    ],
    ids=["empty", "text", "jpeg", "truncated", "header only"],
)
def test_bad_input_gets_a_clear_error_and_the_api_status(data: bytes, status: int, words: str) -> None:
    with pytest.raises(ImageError, match=words) as raised:
        list(sample_frames(data))
    assert raised.value.status == status


def test_sound_without_pictures_is_not_a_video() -> None:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as output:
        stream = output.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            output.mux(packet)
    with pytest.raises(ImageError, match="with a video stream") as raised:
        list(sample_frames(buffer.getvalue()))
    assert raised.value.status == 415


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (VideoOptions(max_seconds=1.0), "lasts 2 s; the limit is 1 s"),
        (VideoOptions(max_frame_pixels=1000), "64x48"),
        (VideoOptions(fps=10, max_decoded_bytes=5 * 48 * 64 * 3), "kept frames pass"),
    ],
    ids=["duration", "frame size", "decoded bytes"],
)
def test_a_video_over_a_limit_is_413(options: VideoOptions, words: str) -> None:
    with pytest.raises(ImageError, match=words) as raised:
        list(sample_frames(CLIP, options))
    assert raised.value.status == 413
