"""Device names (`auto`, `cpu`, `cuda`, `cuda:N`): checked here, once, without importing torch.

The settings check a name when they load; the age model resolves it to a torch
device (and to an error where CUDA is asked for but missing) when it loads.
"""

from __future__ import annotations


def normalise_device_name(name: str | None) -> str:
    """The name in canonical form, or ValueError saying what is allowed."""
    value = (name or "auto").strip().lower()
    if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
