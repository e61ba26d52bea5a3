"""Image in, faces with ages out: detection, alignment and the age network together.

Both the service and `python -m training predict` use this class, so a photo gets
the same answer whichever door it comes through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .age_model import AgeOutput, ModelConfig, decode_output, normalise
from .align import align_face, crop_scale
from .checkpoint import CheckpointMetadata, load_checkpoint
from .decode import DecodedImage
from .detector import Detection, FaceDetector
from .devices import normalise_device_name


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


def resolve_device(name: str) -> torch.device:
    """`auto`, `cpu`, `cuda` or `cuda:N`; asking for CUDA where there is none is an error."""
    name = normalise_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' was requested but CUDA is not available on this machine")
    device = torch.device(name)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(f"device '{name}' was requested but only {torch.cuda.device_count()} GPU(s) exist")
    return device


def cpu_has_bf16() -> bool:
    """Native bf16 matrix units (avx512_bf16 or AMX): there bf16 runs ResNet-50 ~1.5-2x faster than fp32."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = handle.read()
    except OSError:
        return False
    return any(flag in flags for flag in (" avx512_bf16", " amx_bf16"))


ENGINES: tuple[str, ...] = ("auto", "torch", "onnx", "torch-fp16", "torch-bf16", "openvino-bf16")
CPU_ONLY = ("onnx", "torch-bf16", "openvino-bf16")


def resolve_engine(name: str, device: torch.device) -> str:
    """`auto`: fp16 torch on CUDA; on CPU, OpenVINO bf16 where the CPU has native bf16, else ONNX Runtime.

    The figures behind the choice (faces/s, ages against fp32 torch) are in docs/performance.md,
    from `scripts/compare_engines.py`.
    """
    name = (name or "auto").strip().lower()
    if name not in ENGINES:
        raise ValueError(f"unknown age-model engine {name!r}; use one of {', '.join(ENGINES)}")
    if name == "auto":
        if device.type != "cpu":
            return "torch-fp16"
        return "openvino-bf16" if cpu_has_bf16() else "onnx"
    if name in CPU_ONLY and device.type != "cpu":
        raise ValueError(f"engine {name!r} runs on CPU only; use 'torch' or 'torch-fp16' on CUDA")
    if name == "torch-fp16" and device.type != "cuda":
        raise ValueError("engine 'torch-fp16' needs a CUDA device")
    return name


def bf16_inference_copy(model: torch.nn.Module, inplace: bool = False) -> torch.nn.Module:
    """An eval-only copy with each BatchNorm folded into its convolution and bf16 weights.

    Autocast would cast all 25 M fp32 weights to bf16 on every call, which dominated small
    batches (a portrait is one face); casting once, after folding BatchNorm in fp32, removes
    that, halves the weights' memory and leaves the arithmetic as autocast had it.
    """
    from torch.fx.experimental.optimization import fuse

    folded = fuse(model.eval(), inplace=inplace)
    return folded.to(torch.bfloat16).to(memory_format=torch.channels_last)


def export_onnx(model: torch.nn.Module, input_size: int) -> bytes:
    """The loaded network as an in-memory ONNX graph with a free batch dimension.

    Built at start-up from the checkpoint just loaded, so there is no second model
    file to keep in step with the weights.
    """
    import io
    import warnings

    model = model.to(memory_format=torch.contiguous_format)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, input_size, input_size),),
            buffer,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
    return buffer.getvalue()


class AgeEstimator:
    """The ResNet-50 age model, loaded once, answering batches of aligned crops.

    The one place ages are computed from crops: the service, both `evaluate` paths
    and the trainer's validation all call `predict_crops`, so they cannot disagree.
    `engine` picks how for the same weights: `torch` (fp32 eager, the
    reference), `onnx` (ONNX Runtime, CPU), `torch-bf16` (BatchNorm folded, bf16 weights,
    on CPUs with native bf16), `openvino-bf16` (OpenVINO, bf16 on such CPUs) or
    `torch-fp16` (CUDA); `auto` takes the fastest for the device. Preprocessing always
    comes from the checkpoint. `threads` bounds ONNX Runtime's or OpenVINO's threads
    (0: one per core); `spinning` lets ONNX Runtime's idle threads busy-wait (off: they
    would steal the cores that decoding and detection need between batches).
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
        if isinstance(checkpoint, tuple):
            model, self.metadata = checkpoint
            self.model = model.to(self.device).eval()
        else:
            self.model, self.metadata = load_checkpoint(checkpoint, self.device)
        self.flip = flip
        self.batch_size = max(1, int(batch_size))
        # A compiled graph (ONNX Runtime, OpenVINO): normalised N x 3 x S x S float32 in, logits out.
        self._graph: Callable[[np.ndarray], np.ndarray] | None = None
        size = self.metadata.model.input_size
        if self.engine == "onnx":
            session = _onnx_session(self.model, size, threads, spinning)
            self._graph = lambda inputs: session.run(None, {"input": inputs})[0]
            self.model = None  # ONNX Runtime holds its own copy of the weights
        elif self.engine == "openvino-bf16":
            graph = export_onnx(self.model, size)
            self.model = None  # OpenVINO holds its own bf16 copy: free the fp32 one before compiling
            self._graph = _openvino_graph(graph, threads)
        elif self.engine == "torch-fp16":
            self.model = self.model.half().to(memory_format=torch.channels_last)
        elif self.engine == "torch-bf16":
            # A model handed in (the trainer's) stays as it is; one loaded here is folded in place.
            self.model = bf16_inference_copy(self.model, inplace=not isinstance(checkpoint, tuple))
        elif self.device.type == "cpu":
            self.model = self.model.to(memory_format=torch.channels_last)

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

    def _logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits for a normalised N x 3 x S x S float batch, in the chosen engine."""
        if self._graph is not None:
            return torch.from_numpy(self._graph(inputs.cpu().numpy()))
        if self.engine == "torch-fp16":
            inputs = inputs.half()
        elif self.engine == "torch-bf16":
            inputs = inputs.to(torch.bfloat16)
        return self.model(inputs.contiguous(memory_format=torch.channels_last)).float()

    @torch.inference_mode()
    def predict_logits(self, crops: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Logits (flip-averaged when `flip`) for aligned uint8 crops.

        `crops` is N x S x S x 3 (NumPy, as aligned) or N x 3 x S x S (a torch
        tensor, as a prepared set holds them).
        """
        if self.model is not None:
            self.model.eval()
        out = []
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start : start + self.batch_size]
            if isinstance(batch, np.ndarray):
                batch = torch.from_numpy(np.ascontiguousarray(batch))
            else:
                batch = batch.permute(0, 2, 3, 1)
            inputs = normalise(batch.to(self.device), self.metadata.model)
            count = len(inputs)
            if self.flip:
                # Both views in one forward pass: one call, a fuller batch.
                logits = self._logits(torch.cat([inputs, torch.flip(inputs, dims=[3])]))
                logits = (logits[:count] + logits[count:]) / 2
            else:
                logits = self._logits(inputs.contiguous())
            out.append(logits.float().cpu())
        if not out:
            cfg = self.metadata.model
            return torch.zeros(0, cfg.num_bins if cfg.head == "bins" else 1)
        return torch.cat(out)

    def predict_crops(self, crops: np.ndarray | torch.Tensor) -> AgeOutput:
        """Ages (N,), intervals (N, 2) and the calibrated distributions (bins head) for aligned crops."""
        return decode_output(self.predict_logits(crops), self.metadata.model)


def _openvino_graph(onnx_graph: bytes, threads: int) -> Callable[[np.ndarray], np.ndarray]:
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
            return request.infer({0: inputs})[0]  # a copy: the request's buffer is reused next call

    return run


def _onnx_session(model: torch.nn.Module, input_size: int, threads: int, spinning: bool):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(0, int(threads))
    options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    graph = export_onnx(model.cpu(), input_size)
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


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
            ages = out.age.numpy()
            intervals = None if out.interval is None else out.interval.numpy()
            distributions = None if out.probabilities is None else out.probabilities.numpy()
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
