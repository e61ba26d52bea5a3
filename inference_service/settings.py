"""The service's configuration: one pydantic-settings class.

Values come from, highest priority first: keyword arguments (the command-line
flags), environment variables named `AGE_<KEY>` (e.g. `AGE_PORT=9000`; a key of a
section as `AGE_<SECTION>__<KEY>`, e.g. `AGE_DETECTOR__MAX_FACES=20`), the `[service]`
table of the TOML file `service.cfg` (sections as `[service.detector]`), and the defaults.
Relative paths in the config file are resolved against the file's directory, so
the service starts the same from any working directory.
"""

from __future__ import annotations

import json
import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from .bulk.options import BulkOptions
from .video.frames import VideoOptions
from .vision.devices import normalise_device_name
from .vision.options import AgeModelOptions, DetectorOptions

ENV_PREFIX = "AGE_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"  # path of the config file, when --config is not given
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "service.cfg"
SECTION = "service"

# Keys that moved into the model sections: a config file still using them is told where they went.
_MOVED = {
    "model_path": "[service.age_model] path",
    "age_engine": "[service.age_model] engine",
    "age_threads": "[service.age_model] threads",
    "torch_threads": "[service.age_model] torch_threads",
    "batch_size": "[service.age_model] batch_size",
    "flip": "[service.age_model] flip",
    "detector_score_threshold": "[service.detector] score_threshold",
    "detector_nms_threshold": "[service.detector] nms_threshold",
    "detector_max_side": "[service.detector] max_side",
    "detector_min_face": "[service.detector] min_face",
    "detector_threads": "[service.detector] threads",
    "max_faces": "[service.detector] max_faces",
}

# Keys that are gone: a config file or an AGE_* variable still setting them is told what replaced them.
_REMOVED = {
    "max_pending": "max_queue_wait_s (admission by expected wait) and max_queued_bytes (memory) replace it",
}

_config_file: ContextVar[Path | None] = ContextVar("config_file", default=None)


class SettingsError(ValueError):
    """The configuration file or a value in it is unusable."""


class _ServiceCfgSource(PydanticBaseSettingsSource):
    """Reads the `[service]` table of a TOML config file."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None):
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is returned at once by __call__

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            with open(self.path, "rb") as handle:
                document = tomllib.load(handle)
        except FileNotFoundError:
            raise SettingsError(f"config file not found: {self.path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {self.path} is not valid TOML: {exc}") from None
        table = document.get(SECTION, {})
        if not isinstance(table, dict):
            raise SettingsError(f"config file {self.path}: [{SECTION}] must be a table")
        unknown = sorted(set(table) - set(self.settings_cls.model_fields))
        if unknown:
            raise SettingsError(f"config file {self.path}: unknown keys {unknown}{_hint(unknown)}")
        values = self._beside_file(dict(table), "frontend_dir")
        if isinstance(values.get("age_model"), dict):
            values["age_model"] = self._beside_file(dict(values["age_model"]), "path")
        return values

    def _beside_file(self, values: dict[str, Any], key: str) -> dict[str, Any]:
        """A relative path in the file means relative to the file's folder."""
        if isinstance(values.get(key), str) and not Path(values[key]).is_absolute():
            assert self.path is not None
            values[key] = str((self.path.parent / values[key]).resolve())
        return values


class Settings(BaseSettings):
    """Every knob of the service; see service.cfg and docs/configuration.md for what each one does."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    # Where and how to run.
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    device: str = "auto"
    log_level: str = "info"

    # The two models: sections of their own (`[service.age_model]`, `[service.detector]`), passed
    # down to the pipeline as they are; their fields and defaults live in vision/options.py.
    age_model: AgeModelOptions = Field(default_factory=AgeModelOptions)
    detector: DetectorOptions = Field(default_factory=DetectorOptions)
    # Bulk annotation (`python -m inference_service.annotate`): how the run spreads over Ray.
    bulk: BulkOptions = Field(default_factory=BulkOptions)
    # Videos (`POST /predict/video`, and video files in bulk annotation): sampling and limits.
    video: VideoOptions = Field(default_factory=VideoOptions)
    decode_min_side: int = Field(0, ge=0, le=8192)  # >0: big JPEGs decode at 1/2..1/8 down to this side

    # Age checks: P(age >= T) per face for these thresholds when a request names none (empty: no checks).
    age_thresholds: Annotated[list[int], NoDecode] = Field(default_factory=list)
    check_confidence: float = Field(0.9, gt=0.5, lt=1.0)  # verdict over/under at this P, else uncertain

    # Limits on what a request may carry and on work in flight.
    max_upload_bytes: int = Field(15 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(40_000_000, ge=1)
    max_batch_files: int = Field(8, ge=1, le=256)
    # Admission: while the work queued ahead would start within this many seconds, and the uploads held
    # stay under this many bytes (a burst of large files cannot exhaust memory); else 503 + Retry-After.
    max_queue_wait_s: float = Field(5.0, gt=0, le=600)
    max_queued_bytes: int = Field(512 * 1024 * 1024, ge=1024 * 1024)
    decode_threads: int = Field(2, ge=1, le=64)
    retry_after_s: int = Field(1, ge=1, le=3600)  # Retry-After while the models load
    upload_timeout_s: float = Field(30.0, gt=0, le=3600)  # the whole body must arrive within this
    shutdown_timeout_s: float = Field(30.0, gt=0)
    # After SIGTERM, /ready answers 503 for this long while requests are still served, so load balancers
    # stop sending here before the server stops accepting (then the graceful shutdown above).
    drain_s: float = Field(2.0, ge=0, le=300)

    # Who may call it.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:5173", "http://localhost:5173"]
    )
    api_key: SecretStr | None = None

    # Operations: GET /metrics in the Prometheus text format (no API key: keep it off the public ingress).
    metrics_enabled: bool = True

    # The web page, served at / when the folder exists.
    frontend_dir: Path = Path("frontend/dist")

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        return normalise_device_name(value)

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("debug", "info", "warning", "error", "critical"):
            raise ValueError("log_level must be debug, info, warning, error or critical")
        return value

    @field_validator("api_key")
    @classmethod
    def _empty_key_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        # AGE_CORS_ORIGINS may be a JSON list or a comma-separated string.
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("age_thresholds", mode="before")
    @classmethod
    def _parse_thresholds(cls, value: Any) -> Any:
        # AGE_AGE_THRESHOLDS may be "13,18" or a JSON list, like the page's query parameter.
        if isinstance(value, str):
            from .vision.age_checks import parse_thresholds

            return json.loads(value) if value.lstrip().startswith("[") else parse_thresholds(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ServiceCfgSource(settings_cls, _config_file.get()))

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Settings from `config_file` (else $AGE_CONFIG, else ./service.cfg beside the package).

        `overrides` (the command-line flags) win over everything; None values are ignored, and a
        section's overrides are a dict of its fields (`detector={"score_threshold": 0.5}`).
        """
        removed = sorted(key for key in _REMOVED if ENV_PREFIX + key.upper() in os.environ)
        if removed:
            names = [ENV_PREFIX + key.upper() for key in removed]
            raise SettingsError(f"environment variables {names} are no longer read{_hint(removed)}")
        chosen = config_file or os.environ.get(CONFIG_ENV)
        path = Path(chosen) if chosen else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
        token = _config_file.set(path.resolve() if path else None)
        try:
            return cls(**_given(overrides))
        finally:
            _config_file.reset(token)


def _hint(keys: list[str]) -> str:
    """What became of old keys among `keys`, in parentheses, or nothing."""
    notes = [f"{key} is now {_MOVED[key]}" for key in keys if key in _MOVED]
    notes += [f"{key} is gone: {_REMOVED[key]}" for key in keys if key in _REMOVED]
    return f" ({'; '.join(notes)})" if notes else ""


def _given(overrides: dict[str, Any]) -> dict[str, Any]:
    """The overrides without None values, inside sections too (a section left empty is dropped)."""
    given = {}
    for key, value in overrides.items():
        if isinstance(value, dict):
            value = _given(value) or None
        if value is not None:
            given[key] = value
    return given
