"""Image in, faces with ages out: detection, alignment and the age network together.

Both the service and `python -m training predict` use this class, so a photo gets
the same answer whichever door it comes through. Torch is imported only by the
engines that run the network in torch: with a compiled-graph engine (`openvino-bf16`,
`onnx`) the serving process never loads it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .align import align_face, crop_scale
from .checkpoint import CheckpointMetadata, read_metadata
from .decode import DecodedImage
from .detector import Detection, FaceDetector
from .devices import cpu_info, normalise_device_name
from .model_config import AgeOutput, ModelConfig, decode_output, preprocess

if TYPE_CHECKING:
    import torch


@dataclass
class FaceResult:
    box: list[float]
    score: float
    landmarks: list[list[float]]
    age: float
    age_interval: list[float] | None = None
    # The calibrated age distribution (bins head): the API's age checks are read from it.
    distribution: np.ndarray | None = field(default=None, repr=False)


@dataclass
class Prediction:
    faces: list[FaceResult]
    truncated: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)


NVIDIA_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl")


def resolve_device(name: str) -> str:
    """`auto`, `cpu`, `cuda` or `cuda:N` to `cpu` or `cuda[:N]`; asking for CUDA where there is none
    is an error. Without an NVIDIA driver CUDA cannot exist, so `auto` answers `cpu` without torch."""
    name = normalise_device_name(name)
    if name == "cpu" or (name == "auto" and not any(Path(p).exists() for p in NVIDIA_DRIVER_FILES)):
        return "cpu"
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' was requested but CUDA is not available on this machine")
    index = torch.device(name).index
    if index is not None and index >= torch.cuda.device_count():
        raise RuntimeError(f"device '{name}' was requested but only {torch.cuda.device_count()} GPU(s) exist")
    return name


def cpu_has_bf16() -> bool:
    """Native bf16 matrix units (avx512_bf16 or AMX); see `devices.CpuInfo`."""
    return cpu_info().native_bf16


ENGINES: tuple[str, ...] = ("auto", "torch", "onnx", "torch-fp16", "torch-bf16", "openvino-bf16")
CPU_ONLY = ("onnx", "torch-bf16", "openvino-bf16")
GRAPH_ENGINES = ("onnx", "openvino-bf16")  # compile an ONNX export; torch stays out of the process


def resolve_engine(name: str, device: str) -> str:
    """`auto`: fp16 torch on CUDA; on CPU, OpenVINO bf16 where the CPU has native bf16, else ONNX Runtime.

    The figures behind the choice (faces/s, ages against fp32 torch) are in docs/performance.md,
    from `scripts/compare_engines.py`.
    """
    name = (name or "auto").strip().lower()
    if name not in ENGINES:
        raise ValueError(f"unknown age-model engine {name!r}; use one of {', '.join(ENGINES)}")
    if name == "auto":
        if device != "cpu":
            return "torch-fp16"
        return "openvino-bf16" if cpu_has_bf16() else "onnx"
    if name in CPU_ONLY and device != "cpu":
        raise ValueError(f"engine {name!r} runs on CPU only; use 'torch' or 'torch-fp16' on CUDA")
    if name == "torch-fp16" and not device.startswith("cuda"):
        raise ValueError("engine 'torch-fp16' needs a CUDA device")
    return name


def bf16_inference_copy(model: torch.nn.Module, inplace: bool = False) -> torch.nn.Module:
    """An eval-only copy with each BatchNorm folded into its convolution and bf16 weights.

    Autocast would cast all 25 M fp32 weights to bf16 on every call, which dominated small
    batches (a portrait is one face); casting once, after folding BatchNorm in fp32, removes
    that, halves the weights' memory and leaves the arithmetic as autocast had it.
    """
    import torch
    from torch.fx.experimental.optimization import fuse

    folded = fuse(model.eval(), inplace=inplace)
    return folded.to(torch.bfloat16).to(memory_format=torch.channels_last)


class AgeEstimator:
    """The ResNet-50 age model, loaded once, answering batches of aligned crops.

    The one place ages are computed from crops: the service, both `evaluate` paths
    and the trainer's validation all call `predict_crops`, so they cannot disagree.
    `engine` picks how for the same weights: `torch` (fp32 eager, the
    reference), `onnx` (ONNX Runtime, CPU), `torch-bf16` (BatchNorm folded, bf16 weights,
    on CPUs with native bf16), `openvino-bf16` (OpenVINO, bf16 on such CPUs) or
    `torch-fp16` (CUDA); `auto` takes the fastest for the device. Preprocessing and
    decoding are NumPy and always come from the checkpoint. `threads` bounds ONNX
    Runtime's or OpenVINO's threads (0: one per core); `spinning` lets ONNX Runtime's idle
    threads busy-wait (off: they would steal the cores that decoding and detection need
    between batches).
    """

    def __init__(
        self,
        checkpoint: str | Path | tuple[torch.nn.Module, CheckpointMetadata],
        device: str = "auto",
        flip: bool = True,
        batch_size: int = 32,
        engine: str = "auto",
        threads: int = 0,
        spinning: bool = False,
    ):
        """`checkpoint` is a file, or an in-memory (model, metadata) pair (the trainer's validation)."""
        self.device = resolve_device(device)
        self.engine = resolve_engine(engine, self.device)
        self.flip = flip
        self.batch_size = max(1, int(batch_size))
        self.model: Any = None  # the torch network, for the torch engines
        # A compiled graph (ONNX Runtime, OpenVINO): normalised N x 3 x S x S float32 in, logits out.
        self._graph: Callable[[np.ndarray], np.ndarray] | None = None
        handed = isinstance(checkpoint, tuple)
        if handed:
            model, self.metadata = checkpoint
        else:
            model, self.metadata = None, read_metadata(checkpoint)
        if self.engine in GRAPH_ENGINES:
            from .graph_export import export_onnx, onnx_graph

            size = self.metadata.model.input_size
            graph = export_onnx(model.cpu(), size) if handed else onnx_graph(checkpoint)
            if self.engine == "onnx":
                self._graph = _onnx_runner(graph, threads, spinning)
            else:
                self._graph = _openvino_runner(graph, threads)
        else:
            self.model = _torch_network(model if handed else checkpoint, handed, self.engine, self.device)

    @property
    def model_config(self) -> ModelConfig:
        return self.metadata.model

    def align(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        cfg = self.metadata.model
        return align_face(image, landmarks, cfg.template, cfg.input_size)

    def needs_more_pixels(self, landmarks: np.ndarray) -> bool:
        """Whether the crop of this face would be upsampled from the given image."""
        cfg = self.metadata.model
        return crop_scale(landmarks, cfg.template, cfg.input_size) > 1.0

    def _logits(self, inputs: np.ndarray) -> np.ndarray:
        """Logits for a normalised N x 3 x S x S float32 batch, in the chosen engine."""
        if self._graph is not None:
            return self._graph(inputs)
        return _torch_logits(self.model, inputs, self.engine, self.device)

    def predict_logits(self, crops: np.ndarray | torch.Tensor) -> np.ndarray:
        """Logits (flip-averaged when `flip`) for aligned uint8 crops, float32 N x outputs.

        `crops` is N x S x S x 3 (NumPy, as aligned) or N x 3 x S x S (a torch
        tensor, as a prepared set holds them).
        """
        if not isinstance(crops, np.ndarray):
            crops = crops.permute(0, 2, 3, 1).cpu().numpy()
        out = []
        for start in range(0, len(crops), self.batch_size):
            inputs = preprocess(crops[start : start + self.batch_size], self.metadata.model)
            count = len(inputs)
            if self.flip:
                # Both views in one forward pass: one call, a fuller batch.
                logits = self._logits(np.concatenate([inputs, inputs[..., ::-1]]))
                logits = (logits[:count] + logits[count:]) / 2
            else:
                logits = self._logits(inputs)
            out.append(np.asarray(logits, dtype=np.float32))
        if not out:
            cfg = self.metadata.model
            return np.zeros((0, cfg.num_bins if cfg.head == "bins" else 1), dtype=np.float32)
        return np.concatenate(out)

    def predict_crops(self, crops: np.ndarray | torch.Tensor) -> AgeOutput:
        """Ages (N,), intervals (N, 2) and the calibrated distributions (bins head) for aligned crops."""
        return decode_output(self.predict_logits(crops), self.metadata.model)


def _torch_network(source: Any, handed: bool, engine: str, device: str) -> torch.nn.Module:
    """The network for a torch engine, from a checkpoint file or a model handed in (left as it is)."""
    import torch

    from .checkpoint import load_checkpoint

    model = source.to(device).eval() if handed else load_checkpoint(source, device)[0]
    if engine == "torch-fp16":
        return model.half().to(memory_format=torch.channels_last)
    if engine == "torch-bf16":
        # A model handed in (the trainer's) gets a folded copy; one loaded here is folded in place.
        return bf16_inference_copy(model, inplace=not handed)
    if device == "cpu":
        return model.to(memory_format=torch.channels_last)
    return model


def _torch_logits(model: torch.nn.Module, inputs: np.ndarray, engine: str, device: str) -> np.ndarray:
    import torch

    with torch.inference_mode():
        batch = torch.from_numpy(np.ascontiguousarray(inputs)).to(device)
        if engine == "torch-fp16":
            batch = batch.half()
        elif engine == "torch-bf16":
            batch = batch.to(torch.bfloat16)
        model.eval()
        return model(batch.contiguous(memory_format=torch.channels_last)).float().cpu().numpy()


def _openvino_runner(onnx_graph: bytes, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """The network compiled by OpenVINO for the CPU in bf16, from the in-memory ONNX export.

    OpenVINO's CPU plugin runs the convolutions in bf16 on avx512_bf16/AMX CPUs with its own
    fused kernels, faster here than bf16 torch for the same precision (docs/performance.md);
    the latency hint puts one request on all the cores.
    """
    import openvino as ov

    config = {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    core = ov.Core()
    request = core.compile_model(core.read_model(onnx_graph), "CPU", config).create_infer_request()
    lock = threading.Lock()  # one infer request: callers from several threads take turns

    def run(inputs: np.ndarray) -> np.ndarray:
        with lock:
            return request.infer({0: np.ascontiguousarray(inputs)})[0]  # a copy: the buffer is reused

    return run


def _onnx_runner(onnx_graph: bytes, threads: int, spinning: bool) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(0, int(threads))
    options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(onnx_graph, options, providers=["CPUExecutionProvider"])
    return lambda inputs: session.run(None, {"input": np.ascontiguousarray(inputs)})[0]


class FacePipeline:
    """Detect every face, align each one exactly as training did, and age them in one batch."""

    def __init__(self, detector: FaceDetector, estimator: AgeEstimator, max_faces: int = 100):
        self.detector = detector
        self.estimator = estimator
        self.max_faces = max_faces

    @property
    def metadata(self) -> CheckpointMetadata:
        return self.estimator.metadata

    def __call__(self, image: np.ndarray | DecodedImage) -> Prediction:
        """Faces with ages, in full-resolution coordinates of the upright image.

        Given a reduced `DecodedImage`, detection runs on the reduced copy; a face
        whose crop would be upsampled from it is cropped from the full-resolution
        pixels instead, so small faces lose nothing.
        """
        t0 = time.perf_counter()
        decoded = image if isinstance(image, DecodedImage) else None
        pixels = decoded.pixels if decoded is not None else image
        sx, sy = decoded.scale_xy if decoded is not None else (1.0, 1.0)
        detections: list[Detection] = self.detector.detect(pixels)
        truncated = len(detections) > self.max_faces
        if truncated:
            detections = sorted(detections, key=lambda d: d.area, reverse=True)[: self.max_faces]
        t1 = time.perf_counter()
        to_full = np.array([sx, sy], dtype=np.float32)
        faces: list[FaceResult] = []
        t_aligned = t1
        if detections:
            full: np.ndarray | None = None
            crops = []
            for d in detections:
                if decoded is not None and decoded.reduced and self.estimator.needs_more_pixels(d.landmarks):
                    if full is None:
                        full = decoded.full_resolution()
                    crops.append(self.estimator.align(full, d.landmarks / to_full))
                else:
                    crops.append(self.estimator.align(pixels, d.landmarks))
            t_aligned = time.perf_counter()
            out = self.estimator.predict_crops(np.stack(crops))
            ages, intervals, distributions = out.age, out.interval, out.probabilities
            for i, d in enumerate(detections):
                box = d.box / np.tile(to_full, 2)
                landmarks = d.landmarks / to_full
                faces.append(
                    FaceResult(
                        box=[round(float(v), 1) for v in box],
                        score=round(float(d.score), 4),
                        landmarks=[[round(float(x), 1), round(float(y), 1)] for x, y in landmarks],
                        age=round(float(ages[i]), 1),
                        age_interval=None
                        if intervals is None
                        else [round(float(intervals[i][0]), 1), round(float(intervals[i][1]), 1)],
                        distribution=None if distributions is None else distributions[i],
                    )
                )
        t2 = time.perf_counter()
        return Prediction(
            faces=faces,
            truncated=truncated,
            timings_ms={
                "detect": round((t1 - t0) * 1000, 1),
                "align": round((t_aligned - t1) * 1000, 1),
                "age": round((t2 - t_aligned) * 1000, 1),
            },
        )
