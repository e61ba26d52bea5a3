"""What routes get injected: the settings and the loaded model runtime."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..inference import ModelRuntime
from ..settings import Settings
from ..worker import NotReady


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_runtime(request: Request) -> ModelRuntime:
    return request.app.state.runtime


def get_ready_runtime(request: Request) -> ModelRuntime:
    """The runtime, or 503 + Retry-After while the models are still loading."""
    runtime: ModelRuntime = request.app.state.runtime
    if not runtime.ready:
        raise NotReady(f"The models are not ready yet (state: {runtime.state}).")
    return runtime


SettingsDep = Annotated[Settings, Depends(get_settings)]
RuntimeDep = Annotated[ModelRuntime, Depends(get_runtime)]
ReadyRuntimeDep = Annotated[ModelRuntime, Depends(get_ready_runtime)]
