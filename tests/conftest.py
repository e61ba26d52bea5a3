"""Every test log names the machine it proved: the CPU kind and the engine `auto` resolves to there."""

from __future__ import annotations

from inference_service.vision.devices import cpu_info
from inference_service.vision.engines import resolve_engine


def pytest_report_header() -> list[str]:
    cpu = cpu_info().describe()
    return [
        f"cpu: {cpu['model']} (kind {cpu['kind']}; flags {' '.join(cpu['flags']) or 'none of note'})",
        f"age engine for device=cpu, engine=auto: {resolve_engine('auto', 'cpu')}",
    ]
