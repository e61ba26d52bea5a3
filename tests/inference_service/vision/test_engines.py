"""The engine table: one class per engine, the settings' choices, `auto` per CPU kind, the int8 guard;
and the accuracy rules: the fast path (ONNX Runtime) and the bf16 engines give the ages of fp32 torch.

Real faces from ../shared/data/photos, the shipped checkpoint, the real detector.
"""

from __future__ import annotations

import os
import shutil
import typing
from pathlib import Path

import numpy as np
import pytest

from inference_service.vision.checkpoint import CheckpointError, read_metadata
from inference_service.vision.decode import read_image_file
from inference_service.vision.detector import RetinaFaceDetector
from inference_service.vision.devices import CpuInfo, cpu_info
from inference_service.vision.engines import (
    AUTO_INT8_ON_CPU,
    AUTO_ON_CPU,
    AUTO_ON_CUDA,
    ENGINE_NAMES,
    ENGINES,
    Int8Graph,
    Network,
    int8_first,
    resolve_engine,
)
from inference_service.vision.estimator import AgeEstimator
from inference_service.vision.options import AgeModelOptions
from inference_service.vision.pipeline import FacePipeline

from ..server import CHECKPOINT
from .conftest import REAL_PHOTOS

AGE_TOLERANCE = 0.5  # years, the bound between the fast and the plain path
# years: a bf16 engine against fp32 torch on CPUs with native bf16 (0.7.0-cpu-112px, amx kind: largest
# 0.32 for openvino-bf16, 0.25 for torch-bf16, over the 31 real-photo faces)
BF16_TOLERANCE = 0.35

KINDS = {
    "avx2": CpuInfo("AMD EPYC (Zen 3)", frozenset({"avx2", "fma"})),
    "avx512": CpuInfo("AVX-512 without bf16", frozenset({"avx2", "avx512f", "avx512_vnni"})),
    "avx512-bf16": CpuInfo("AMD EPYC (Zen 4)", frozenset({"avx2", "avx512f", "avx512_bf16"})),
    "amx": CpuInfo("Intel Xeon with AMX", frozenset({"avx512f", "avx512_bf16", "amx_bf16", "amx_int8"})),
}


def test_the_table_feeds_the_settings_and_describes_every_engine() -> None:
    assert (
        typing.get_args(AgeModelOptions.model_fields["engine"].annotation)
        == ENGINE_NAMES
        == ("auto", *ENGINES)
    )
    for name, engine in ENGINES.items():
        assert engine.name == name and engine.summary and set(engine.devices) <= {"cpu", "cuda"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_auto_picks_the_measured_engine_for_each_cpu_kind(kind: str) -> None:
    cpu = KINDS[kind]
    assert cpu.kind == kind
    assert resolve_engine("auto", "cpu", cpu) == AUTO_ON_CPU[kind]
    assert resolve_engine("auto", "cuda:0", cpu) == AUTO_ON_CUDA
    assert AUTO_ON_CPU[kind] in ENGINES and not ENGINES[AUTO_ON_CPU[kind]].refuses("cpu")


def test_engines_refuse_devices_they_cannot_run_on() -> None:
    with pytest.raises(ValueError, match="unknown age-model engine 'tensorrt'; use one of auto, torch"):
        resolve_engine("tensorrt", "cpu")
    with pytest.raises(ValueError, match="'torch-fp16' runs on cuda only"):
        resolve_engine("torch-fp16", "cpu")
    with pytest.raises(ValueError, match="'openvino-int8' runs on cpu only"):
        resolve_engine("openvino-int8", "cuda")


def test_int8_engine_without_its_graph_says_how_to_make_it(tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.safetensors"
    shutil.copyfile(CHECKPOINT, checkpoint)
    with pytest.raises(
        CheckpointError, match=r"needs .*model\.int8\.xml; make it with `python -m training quantize"
    ):
        AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine="openvino-int8")


def test_int8_engine_refuses_a_graph_made_from_other_weights(tmp_path: Path) -> None:
    import openvino as ov
    from openvino import opset13 as ops

    checkpoint = tmp_path / "model.safetensors"
    shutil.copyfile(CHECKPOINT, checkpoint)
    data = ops.parameter([1, 3, 8, 8], np.float32)
    graph = ov.Model([ops.relu(data)], [data])
    Int8Graph(Int8Graph.beside(checkpoint), checkpoint_sha256="0" * 64, temperature=1.0).save(graph)
    with pytest.raises(CheckpointError, match="was quantized from other weights than"):
        AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine="openvino-int8")
    # auto does not fail on a stale graph: it serves the CPU kind's float engine (and logs why)
    assert AgeEstimator.from_checkpoint(checkpoint, device="cpu").engine == AUTO_ON_CPU[cpu_info().kind]


def test_auto_takes_an_int8_graph_only_on_cpu_kinds_where_it_measured_faster(tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.safetensors"
    network = Network(read_metadata(CHECKPOINT), path=checkpoint)
    assert not any(int8_first("auto", network, "cpu", cpu) for cpu in KINDS.values())  # no graph yet
    Int8Graph.beside(checkpoint).write_text("<net/>")
    for kind, cpu in KINDS.items():
        assert int8_first("auto", network, "cpu", cpu) == (kind in AUTO_INT8_ON_CPU)
        assert not int8_first("openvino-bf16", network, "cpu", cpu) and not int8_first(
            "auto", network, "cuda", cpu
        )


def test_fast_runtime_is_onnx_on_cpu(fast: AgeEstimator, plain: AgeEstimator) -> None:
    assert fast.engine == "onnx" and plain.engine == "torch"
    # auto picks the fastest engine measured on this CPU kind (int8 there, when its graph was made here)
    network = Network(read_metadata(CHECKPOINT), path=CHECKPOINT)
    expected = "openvino-int8" if int8_first("auto", network, "cpu") else AUTO_ON_CPU[cpu_info().kind]
    assert AgeEstimator.from_checkpoint(CHECKPOINT, device="cpu").engine == expected


def test_onnx_ages_match_torch_on_real_faces(
    real_crops: np.ndarray, plain: AgeEstimator, fast: AgeEstimator
) -> None:
    reference, quick = plain.predict_crops(real_crops), fast.predict_crops(real_crops)
    assert np.abs(reference.age - quick.age).max() <= AGE_TOLERANCE
    if reference.interval is not None:
        assert quick.interval is not None
        assert np.abs(reference.interval - quick.interval).max() <= AGE_TOLERANCE


@pytest.mark.parametrize("path", REAL_PHOTOS, ids=lambda p: p.stem)
def test_fast_pipeline_ages_match_plain_pipeline(
    path: Path, detector: RetinaFaceDetector, plain: AgeEstimator, fast: AgeEstimator
) -> None:
    """The service's default path (ONNX, flip in one batch) against fp32 eager torch, end to end."""
    image = read_image_file(str(path))
    reference = FacePipeline(detector, plain)(image)
    quick = FacePipeline(detector, fast)(image)
    assert len(quick.faces) == len(reference.faces) >= 1
    assert [f.box for f in quick.faces] == [f.box for f in reference.faces]
    ages = np.array([f.age for f in quick.faces])
    assert np.abs(ages - [f.age for f in reference.faces]).max() <= AGE_TOLERANCE


def test_openvino_pins_its_threads_only_when_it_has_every_core() -> None:
    """Pinned, two one-thread processes would both run on core 0 (bench/core_scaling.py measured two
    such int8 processes no faster than one)."""
    cores = len(os.sched_getaffinity(0))
    for threads, pinned in ((1, cores == 1), (cores, True)):
        estimator = AgeEstimator.from_checkpoint(
            CHECKPOINT, device="cpu", engine="openvino-bf16", threads=threads
        )
        compiled = estimator.runner.request.get_compiled_model()
        assert compiled.get_property("ENABLE_CPU_PINNING") is pinned


@pytest.mark.parametrize("engine", ["openvino-bf16", "torch-bf16"])
def test_bf16_engines_against_fp32_on_real_faces(
    engine: str, real_crops: np.ndarray, plain: AgeEstimator
) -> None:
    """What holds depends on the CPU, so each kind checks its own property.

    With native bf16 (avx512_bf16 or AMX) both bf16 engines stay within 0.35 year of fp32.
    Without it, OpenVINO ignores the bf16 hint and computes in fp32, so it must match fp32 torch
    as closely as ONNX Runtime does (0.05 year); torch-bf16 is emulated there, slower than fp32 and
    never picked by `auto`, so it need only stay within the fast path's 0.5-year bound.
    """
    quick = AgeEstimator.from_checkpoint(CHECKPOINT, device="cpu", engine=engine).predict_crops(real_crops)
    difference = np.abs(plain.predict_crops(real_crops).age - quick.age).max()
    if cpu_info().native_bf16:
        assert difference <= BF16_TOLERANCE
    elif engine == "openvino-bf16":
        assert difference <= 0.05
    else:
        assert AgeEstimator.from_checkpoint(CHECKPOINT, device="cpu").engine != "torch-bf16"
        assert difference <= AGE_TOLERANCE
