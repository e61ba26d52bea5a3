"""What routes get injected: the settings and the loaded model runtime."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from ..inference import ModelRuntime
from ..settings import Settings
from ..vision.age_checks import MAX_THRESHOLDS, AgeCheckError, check_thresholds, parse_thresholds
from ..worker import NotReady
from .errors import ApiError


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


def get_check_thresholds(
    runtime: ReadyRuntimeDep,
    settings: SettingsDep,
    thresholds: Annotated[
        str | None,
        Query(
            description=(
                f"Age checks: up to {MAX_THRESHOLDS} comma-separated whole ages, e.g. `13,18,21,25`. "
                "Each face then carries `age_checks`: the calibrated probability that the person "
                "is at least that old, and a verdict. Absent: the service's `age_thresholds`; "
                "empty: no checks."
            ),
            openapi_examples={
                "adult": {"summary": "Over 18?", "value": "18"},
                "usual": {"summary": "The usual age-assurance checks", "value": "13,18,21,25"},
            },
            max_length=200,
        ),
    ] = None,
) -> list[int]:
    """The thresholds this request asks about, checked against the model before the upload is read."""
    try:
        if thresholds is None:
            chosen = settings.age_thresholds
        else:
            chosen = parse_thresholds(thresholds) if thresholds.strip() else []
        return check_thresholds(chosen, runtime.metadata.model)
    except AgeCheckError as exc:
        raise ApiError(422, str(exc)) from None


ThresholdsDep = Annotated[list[int], Depends(get_check_thresholds)]


def get_distribution(
    distribution: Annotated[
        bool,
        Query(
            description=(
                "true: every face also carries `age_distribution`, its calibrated age distribution "
                "(`probabilities[i]` = P(age = `age_min` + i)), e.g. to combine several frames of a video."
            )
        ),
    ] = False,
) -> bool:
    return distribution


DistributionDep = Annotated[bool, Depends(get_distribution)]
