"""The int8 form of a checkpoint for the `openvino-int8` engine: NNCF post-training quantization with
accuracy control, its own temperature, written as an OpenVINO graph beside the checkpoint.

Plain post-training quantization of the age network keeps the MAE but moves single faces by up to
3.5 years: the age is the mean of a 101-bin softmax, which every layer's rounding nudges. NNCF's
accuracy control therefore gets a metric that measures exactly that: how far the int8 ages move
from the fp32 ages on validation faces. It leaves the layers that move them most in floating
point until the mean move is within `max_move` year. The int8 logits are a little sharper or
flatter than fp32's, so the temperature is fitted again on the whole validation split (for a member
trained on validation too: the checkpoint's own, scaled by int8's sharpness against fp32 there) and stored
in the graph, with the checkpoint's sha256: the engine refuses a graph made from other weights.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference_service.vision.checkpoint import load_checkpoint
from inference_service.vision.engines import Int8Graph, file_sha256
from inference_service.vision.estimator import flip_averaged
from inference_service.vision.graph_export import export_onnx
from inference_service.vision.model_config import ModelConfig, decode_output, preprocess

from .calibrate import distribution_report, fit_temperature
from .data import load_split

log = logging.getLogger("training")


def _flip_averaged_logits(compiled: Any, inputs: np.ndarray, batch: int = 32) -> np.ndarray:
    """The service's arithmetic (both views in one batch, logits averaged) on a compiled OpenVINO model."""
    request = compiled.create_infer_request()
    run = lambda views: request.infer({0: views})[0]  # noqa: E731
    return np.concatenate([flip_averaged(run, inputs[i : i + batch]) for i in range(0, len(inputs), batch)])


def _inputs(prepared: str, split: str, cfg: ModelConfig, limit: int) -> tuple[np.ndarray, np.ndarray]:
    faces = load_split(prepared, split, cfg.input_size, limit)
    return preprocess(faces.images.permute(0, 2, 3, 1).numpy(), cfg), faces.ages.numpy()


def quantize(
    checkpoint: str | Path,
    prepared: str | Path,
    out: str | Path | None = None,
    calibration_faces: int = 300,
    control_faces: int = 600,
    max_move: float = 0.2,
) -> dict:
    """Write the int8 graph of `checkpoint` (default: beside it, `<stem>.int8.xml`); return its figures."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    started = time.time()
    model, meta = load_checkpoint(checkpoint)
    cfg, prepared = meta.model, str(prepared)
    core = ov.Core()
    fp32 = core.read_model(export_onnx(model, cfg.input_size))
    calibration, _ = _inputs(prepared, "train", cfg, calibration_faces)
    calibration = np.concatenate([calibration, calibration[..., ::-1]])  # the service ages both views
    control, _ = _inputs(prepared, "val", cfg, control_faces)
    fp32_compiled = core.compile_model(fp32, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    reference = decode_output(_flip_averaged_logits(fp32_compiled, control), cfg).age

    def agreement(compiled: Any, items: Any) -> tuple[float, list[float]]:
        """1 - how far each face's int8 age moved from fp32 (higher is better, as NNCF expects)."""
        index = np.array([i for i, _ in items])
        moved = np.abs(
            decode_output(_flip_averaged_logits(compiled, control[index]), cfg).age - reference[index]
        )
        return float(1 - moved.mean()), [float(1 - m) for m in moved]

    quantized = nncf.quantize_with_accuracy_control(
        fp32,
        nncf.Dataset([calibration[i : i + 1] for i in range(len(calibration))]),
        nncf.Dataset(list(enumerate(control)), lambda item: item[1][None]),
        agreement,
        max_drop=max_move,
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(calibration),
        advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(ranking_subset_size=200),
    )
    val, val_ages = _inputs(prepared, "val", cfg, 0)
    logits = torch.from_numpy(_flip_averaged_logits(core.compile_model(quantized, "CPU"), val))
    ages = torch.from_numpy(val_ages)
    uncalibrated = ModelConfig.from_dict({**cfg.to_dict(), "temperature": 1.0})
    temperature = fit_temperature(logits, ages, uncalibrated)
    if "val" in (meta.training_config.get("data", {}).get("train_splits") or ["train"]):
        # Validation was trained on: a fit there is too sharp. Keep the checkpoint's temperature (from its
        # validation run, `calibrate --like`), scaled by how much sharper int8 is than fp32 on those faces.
        fp32_logits = torch.from_numpy(_flip_averaged_logits(fp32_compiled, val))
        temperature = cfg.temperature * temperature / fit_temperature(fp32_logits, ages, uncalibrated)
    calibrated = ModelConfig.from_dict({**cfg.to_dict(), "temperature": temperature})
    path = Path(out) if out else Int8Graph.beside(Path(checkpoint))
    graph = Int8Graph(path, checkpoint_sha256=file_sha256(Path(checkpoint)), temperature=temperature)
    graph.save(quantized)
    figures = {
        "graph": str(path),
        "temperature": temperature,
        "val_after_calibration": distribution_report(logits, ages, calibrated),
        "calibration_faces": len(calibration),
        "control_faces": len(control),
        "max_move": max_move,
        "minutes": round((time.time() - started) / 60, 1),
    }
    log.info("int8 graph written to %s: %s", path, figures)
    return figures
