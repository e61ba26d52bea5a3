"""Devices: names (`auto`, `cpu`, `cuda`, `cuda:N`) and what the CPU can do, without importing torch.

The settings check a name when they load; the age model resolves it to a torch
device (and to an error where CUDA is asked for but missing) when it loads. The CPU's
flags decide which engine `auto` picks (native bf16, int8 dot products), and every
benchmark and test log names them, since the project's machines are not all of one kind.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

# The flags that change which engine is fastest, and so what a speed figure means.
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def normalise_device_name(name: str | None) -> str:
    """The name in canonical form, or ValueError saying what is allowed."""
    value = (name or "auto").strip().lower()
    if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")


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


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: frozenset[str]

    @property
    def native_bf16(self) -> bool:
        """bf16 matrix units (avx512_bf16 or AMX): there bf16 runs ResNet-50 ~1.5-2x faster than fp32."""
        return bool(self.flags & {"avx512_bf16", "amx_bf16"})

    @property
    def kind(self) -> str:
        """One word for the CPU kind, as the bench files are named: amx, avx512-bf16, avx512 or avx2."""
        if "amx_bf16" in self.flags:
            return "amx"
        if "avx512_bf16" in self.flags:
            return "avx512-bf16"
        return "avx512" if "avx512f" in self.flags else "avx2"

    def describe(self) -> dict:
        return {
            "model": self.model,
            "kind": self.kind,
            "flags": [flag for flag in RELEVANT_FLAGS if flag in self.flags],
        }


@functools.cache
def cpu_info() -> CpuInfo:
    """This machine's CPU model and flags from /proc/cpuinfo (none where it cannot be read)."""
    model, flags = "unknown", frozenset()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = frozenset(value.split())
    except OSError:
        pass
    return CpuInfo(model, flags)
