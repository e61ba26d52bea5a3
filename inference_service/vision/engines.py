"""How the age network runs: one small class per engine behind one interface, kept in one table.

Every engine turns a normalised float32 N x 3 x S x S batch into logits for the same weights;
they differ in runtime and arithmetic. `ENGINES` feeds the settings' allowed values, `auto`
(and the pytest header) and the docs' engine table, so a new engine is one class plus one entry here.
Only the torch engines import torch; the graph engines compile a prebuilt ONNX graph that
records the checkpoint's sha256 (`graph_export`: beside the checkpoint, or cached) or the int8
graph beside the checkpoint, so a service on them never loads torch, nor needs it installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .checkpoint import CheckpointError, CheckpointMetadata, read_metadata
from .devices import CpuInfo, cpu_info
from .graph_export import SHA256_KEY, beside, cached, check_recorded, export_onnx, graph_for
from .model_config import ModelConfig

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


@dataclass
class Network:
    """The weights an engine runs: a checkpoint file, or a module in memory (the trainer's validation)."""

    metadata: CheckpointMetadata
    path: Path | None = None
    module: Any = None  # torch.nn.Module, when handed in

    def torch_module(self, device: str) -> torch.nn.Module:
        from .checkpoint import load_checkpoint

        if self.module is not None:
            return self.module.to(device).eval()
        return load_checkpoint(self.path, device)[0]

    @cached_property
    def sha256(self) -> str:
        """The checkpoint file's sha256: the key of its cached graph, and what a graph must record."""
        if self.path is None:
            raise ValueError("a network handed in as a module has no checkpoint file")
        return file_sha256(self.path)

    def onnx(self) -> Path | bytes:
        """The ONNX graph for the graph engines: the checkpoint's prebuilt (or cached) file, or a
        module's export in memory."""
        if self.module is not None:
            return export_onnx(self.module.cpu(), self.metadata.model.input_size)
        return graph_for(self.path, self.sha256)

    def check_graph(self, graph: Path | bytes, recorded: str | None) -> None:
        """Refuse a graph file exported from other weights than this checkpoint (CheckpointError)."""
        if isinstance(graph, Path):
            check_recorded(graph, recorded, self.path, self.sha256)


class Engine(ABC):
    """Logits for a batch of normalised crops, in one runtime and precision."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for the docs
    devices: ClassVar[tuple[str, ...]] = ("cpu",)  # device types it runs on
    loads_torch: ClassVar[bool] = False

    def __init__(self, network: Network, device: str, threads: int):
        self.device = device

    @classmethod
    def refuses(cls, device: str) -> str | None:
        """Why this engine cannot run on `device` (None: it can)."""
        if device.split(":")[0] not in cls.devices:
            return f"engine {cls.name!r} runs on {' or '.join(cls.devices)} only, not {device!r}"
        return None

    @abstractmethod
    def logits(self, inputs: np.ndarray) -> np.ndarray: ...

    def model_config(self, config: ModelConfig) -> ModelConfig:
        """The checkpoint's config as this engine's logits need it (an int8 graph has its own temperature)."""
        return config


class TorchEngine(Engine):
    name = "torch"
    summary = "fp32 eager torch: the reference every other engine is measured against"
    devices = ("cpu", "cuda")
    loads_torch = True

    @classmethod
    def refuses(cls, device: str) -> str | None:
        """Also refuse where torch is not installed (the CPU image serves without it)."""
        if importlib.util.find_spec("torch") is None:
            return f"engine {cls.name!r} needs torch, which is not installed here (the `export` extra has it)"
        return super().refuses(device)

    def __init__(self, network: Network, device: str, threads: int):
        super().__init__(network, device, threads)
        self.model = self.prepare(network.torch_module(device), handed=network.module is not None)

    def prepare(self, model: torch.nn.Module, handed: bool) -> torch.nn.Module:
        import torch

        return model.to(memory_format=torch.channels_last) if self.device == "cpu" else model

    def cast(self, batch: torch.Tensor) -> torch.Tensor:
        return batch

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            batch = self.cast(torch.from_numpy(np.ascontiguousarray(inputs)).to(self.device))
            self.model.eval()
            return self.model(batch.contiguous(memory_format=torch.channels_last)).float().cpu().numpy()


class TorchFp16Engine(TorchEngine):
    name = "torch-fp16"
    summary = "fp16 torch on CUDA"
    devices = ("cuda",)

    def prepare(self, model: torch.nn.Module, handed: bool) -> torch.nn.Module:
        import torch

        return model.half().to(memory_format=torch.channels_last)

    def cast(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.half()


class TorchBf16Engine(TorchEngine):
    name = "torch-bf16"
    summary = "torch with BatchNorm folded and bf16 weights (CPU; emulated, and slower, without native bf16)"
    devices = ("cpu",)

    def prepare(self, model: torch.nn.Module, handed: bool) -> torch.nn.Module:
        # A model handed in (the trainer's) gets a folded copy; one loaded here is folded in place.
        return bf16_inference_copy(model, inplace=not handed)

    def cast(self, batch: torch.Tensor) -> torch.Tensor:
        import torch

        return batch.to(torch.bfloat16)


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


class OnnxEngine(Engine):
    name = "onnx"
    summary = "ONNX Runtime fp32 (CPU)"

    def __init__(self, network: Network, device: str, threads: int):
        import onnxruntime as ort

        super().__init__(network, device, threads)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = max(0, int(threads))
        options.inter_op_num_threads = 1
        # Idle threads must not busy-wait: decoding and detection need the cores between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        graph = network.onnx()
        source = str(graph) if isinstance(graph, Path) else graph
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        network.check_graph(graph, self.session.get_modelmeta().custom_metadata_map.get(SHA256_KEY))

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input": np.ascontiguousarray(inputs)})[0]


class OpenVinoEngine(Engine):
    """An OpenVINO graph compiled for the CPU; subclasses say which graph and which precision."""

    precision: ClassVar[str]

    def __init__(self, network: Network, device: str, threads: int):
        import openvino as ov

        super().__init__(network, device, threads)
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
            # OpenVINO pins its threads to the first cores: two processes of one thread each (two Ray
            # actors, two replicas) would share core 0. Pin only an engine that has all the cores.
            config["ENABLE_CPU_PINNING"] = threads >= len(os.sched_getaffinity(0))
        core = ov.Core()
        compiled = core.compile_model(self.graph(core, network), "CPU", config)
        self.request = compiled.create_infer_request()
        self.lock = threading.Lock()  # one infer request: callers from several threads take turns

    def graph(self, core: Any, network: Network) -> Any:
        graph = network.onnx()
        model = core.read_model(str(graph) if isinstance(graph, Path) else graph)
        network.check_graph(graph, _recorded_sha256(model))
        return model

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        with self.lock:
            return self.request.infer({0: np.ascontiguousarray(inputs)})[0]  # a copy: the buffer is reused


def _recorded_sha256(model: Any) -> str | None:
    """The checkpoint sha256 an ONNX graph's metadata records, as OpenVINO reads it (None: none)."""
    try:
        return model.get_rt_info(["framework", SHA256_KEY]).astype(str)
    except RuntimeError:
        return None


class OpenVinoBf16Engine(OpenVinoEngine):
    name = "openvino-bf16"
    summary = "OpenVINO, bf16 where the CPU has native bf16 (avx512_bf16, AMX), else fp32"
    precision = "bf16"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Int8Graph:
    """An int8 OpenVINO graph of one checkpoint (`python -m training quantize`), with what it was made from.

    The graph records the sha256 of the checkpoint whose weights it quantized and the temperature
    fitted to its own logits; preprocessing and everything else still come from the checkpoint.
    """

    path: Path
    checkpoint_sha256: str
    temperature: float

    RT_KEY: ClassVar[str] = "age_estimator"

    @staticmethod
    def beside(checkpoint: Path) -> Path:
        return checkpoint.with_name(checkpoint.stem + ".int8.xml")

    def save(self, model: Any) -> None:
        import openvino as ov

        model.set_rt_info(self.checkpoint_sha256, [self.RT_KEY, "checkpoint_sha256"])
        model.set_rt_info(str(self.temperature), [self.RT_KEY, "temperature"])
        ov.save_model(model, self.path, compress_to_fp16=False)

    @classmethod
    def load(cls, core: Any, checkpoint: Path) -> tuple[Int8Graph, Any]:
        """The graph beside `checkpoint`; a clear error when it is missing or made from other weights."""
        path = cls.beside(checkpoint)
        if not path.is_file():
            raise CheckpointError(
                f"engine 'openvino-int8' needs {path}; make it with "
                f"`python -m training quantize --checkpoint {checkpoint}`"
            )
        model = core.read_model(path)
        try:
            sha = model.get_rt_info([cls.RT_KEY, "checkpoint_sha256"]).astype(str)
            temperature = float(model.get_rt_info([cls.RT_KEY, "temperature"]).astype(str))
        except RuntimeError:
            raise CheckpointError(f"{path} does not record which checkpoint it was made from") from None
        if sha != file_sha256(checkpoint):
            raise CheckpointError(
                f"{path} was quantized from other weights than {checkpoint} (sha256 {sha[:12]}…); "
                f"make it again with `python -m training quantize --checkpoint {checkpoint}`"
            )
        return cls(path, sha, temperature), model


class OpenVinoInt8Engine(OpenVinoEngine):
    name = "openvino-int8"
    summary = "OpenVINO int8 graph beside the checkpoint (NNCF, accuracy-controlled); its own temperature"
    precision = "bf16"  # for the layers accuracy control left in floating point (fp32 without native bf16)

    def graph(self, core: Any, network: Network) -> Any:
        if network.path is None:
            raise ValueError("engine 'openvino-int8' serves a checkpoint file with its int8 graph beside it")
        self.int8, model = Int8Graph.load(core, network.path)
        return model

    def model_config(self, config: ModelConfig) -> ModelConfig:
        return replace(config, temperature=self.int8.temperature)


ENGINES: dict[str, type[Engine]] = {
    engine.name: engine
    for engine in (
        TorchEngine,
        OnnxEngine,
        TorchFp16Engine,
        TorchBf16Engine,
        OpenVinoBf16Engine,
        OpenVinoInt8Engine,
    )
}
ENGINE_NAMES: tuple[str, ...] = ("auto", *ENGINES)

# What `auto` picks on each CPU kind (devices.CpuInfo.kind): the fastest engine that passes the
# accuracy rule there, from `python -m training engines` and `make bench` (docs/performance.md).
# Where int8 measured faster and its graph lies beside the checkpoint, `auto` takes that instead.
AUTO_INT8_ON_CPU: frozenset[str] = frozenset({"amx", "avx512-bf16"})
AUTO_ON_CPU: dict[str, str] = {
    "amx": "openvino-bf16",
    "avx512-bf16": "openvino-bf16",
    "avx512": "onnx",
    "avx2": "onnx",
}
AUTO_ON_CUDA = "torch-fp16"


def resolve_engine(name: str, device: str, cpu: CpuInfo | None = None) -> str:
    """The engine for a setting (`auto` or a name) on a resolved device, or ValueError saying why not."""
    name = (name or "auto").strip().lower()
    if name not in ENGINE_NAMES:
        raise ValueError(f"unknown age-model engine {name!r}; use one of {', '.join(ENGINE_NAMES)}")
    if name == "auto":
        return AUTO_ON_CPU[(cpu or cpu_info()).kind] if device == "cpu" else AUTO_ON_CUDA
    reason = ENGINES[name].refuses(device)
    if reason:
        raise ValueError(reason)
    return name


def int8_first(name: str, network: Network, device: str, cpu: CpuInfo | None = None) -> bool:
    """Whether `auto` takes the int8 graph: on a CPU kind where it measured faster, when it is there."""
    return (
        (name or "auto").strip().lower() == "auto"
        and device == "cpu"
        and (cpu or cpu_info()).kind in AUTO_INT8_ON_CPU
        and network.path is not None
        and Int8Graph.beside(network.path).is_file()
    )


def build_engine(name: str, network: Network, device: str, threads: int = 0) -> Engine:
    if int8_first(name, network, device):
        try:
            return OpenVinoInt8Engine(network, device, threads)
        except CheckpointError as exc:  # a stale graph: serve the fp/bf16 engine and say why
            log.warning("auto: not using the int8 graph (%s)", exc)
    return ENGINES[resolve_engine(name, device)](network, device, threads)


def needs_torch(checkpoint: Path, engine: str, device: str) -> bool:
    """Whether serving `checkpoint` with the `engine` setting on `device` needs torch: a torch engine, or a
    graph engine whose ONNX graph is neither beside the checkpoint nor cached (torch exports it)."""
    network = Network(read_metadata(checkpoint), path=checkpoint)
    if int8_first(engine, network, device):
        return False
    chosen = ENGINES[resolve_engine(engine, device)]
    if chosen.loads_torch or chosen is OpenVinoInt8Engine:
        return chosen.loads_torch
    return not any(path.is_file() for path in (beside(checkpoint), cached(network.sha256)))
