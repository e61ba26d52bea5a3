"""Every test log names the machine it proved: the CPU kind and the engine `auto` resolves to there."""

from __future__ import annotations

from pathlib import Path

from inference_service.vision.checkpoint import read_metadata
from inference_service.vision.devices import cpu_info
from inference_service.vision.engines import Network, int8_first, resolve_engine

CHECKPOINT = Path(__file__).resolve().parents[1] / "models" / "age-resnet50.safetensors"


def pytest_report_header() -> list[str]:
    cpu = cpu_info().describe()
    shipped = Network(read_metadata(CHECKPOINT), path=CHECKPOINT)
    auto = (
        "openvino-int8 (its graph is beside the shipped checkpoint)"
        if int8_first("auto", shipped, "cpu")
        else resolve_engine("auto", "cpu")
    )
    return [
        f"cpu: {cpu['model']} (kind {cpu['kind']}; flags {' '.join(cpu['flags']) or 'none of note'})",
        f"age engine for device=cpu, engine=auto: {auto}",
    ]
