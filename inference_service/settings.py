"""The service's configuration: one pydantic-settings class.

Values come from, highest priority first: keyword arguments (the command-line
flags), environment variables named `AGE_<KEY>` (e.g. `AGE_PORT=9000`), the
`[service]` table of the TOML file `service.cfg`, and the defaults below.
Relative paths in the config file are resolved against the file's directory, so
the service starts the same from any working directory.
"""

from __future__ import annotations

import json
import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from .vision.devices import normalise_device_name
from .vision.engines import ENGINE_NAMES

if TYPE_CHECKING:
    from .vision.pipeline import PipelineOptions

ENV_PREFIX = "AGE_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"  # path of the config file, when --config is not given
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "service.cfg"
SECTION = "service"
_PATH_KEYS = ("model_path", "frontend_dir")

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
            raise SettingsError(f"config file {self.path}: unknown keys {unknown}")
        values = dict(table)
        for key in _PATH_KEYS:
            if isinstance(values.get(key), str) and not Path(values[key]).is_absolute():
                values[key] = str((self.path.parent / values[key]).resolve())
        return values


class Settings(BaseSettings):
    """Every knob of the service; see service.cfg and docs/configuration.md for what each one does."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    # Where and how to run.
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    device: str = "auto"
    log_level: str = "info"

    # The age model.
    model_path: Path = Path("models/age-resnet50.safetensors")
    batch_size: int = Field(32, ge=1, le=1024)
    flip: bool = True
    torch_threads: int = Field(0, ge=0, le=256)
    age_engine: Literal[ENGINE_NAMES] = "auto"  # auto or a name in vision.engines.ENGINES
    # ONNX Runtime or OpenVINO threads of the age model; 0 = all cores
    age_threads: int = Field(0, ge=0, le=256)
    decode_min_side: int = Field(0, ge=0, le=8192)  # >0: big JPEGs decode at 1/2..1/8 down to this side

    # Age checks: P(age >= T) per face for these thresholds when a request names none (empty: no checks).
    age_thresholds: Annotated[list[int], NoDecode] = Field(default_factory=list)
    check_confidence: float = Field(0.9, gt=0.5, lt=1.0)  # verdict over/under at this P, else uncertain

    # The face detector.
    detector_score_threshold: float = Field(0.9, gt=0.0, lt=1.0)
    detector_nms_threshold: float = Field(0.4, gt=0.0, le=1.0)
    detector_max_side: int = Field(1024, ge=64, le=8192)
    detector_min_face: float = Field(0.0, ge=0.0)
    detector_threads: int = Field(0, ge=0, le=256)
    max_faces: int = Field(100, ge=1, le=10_000)

    # Limits on what a request may carry and on work in flight.
    max_upload_bytes: int = Field(15 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(40_000_000, ge=1)
    max_batch_files: int = Field(8, ge=1, le=256)
    max_pending: int = Field(16, ge=1, le=10_000)
    decode_threads: int = Field(2, ge=1, le=64)
    retry_after_s: int = Field(1, ge=1, le=3600)
    upload_timeout_s: float = Field(30.0, gt=0, le=3600)  # the whole body must arrive within this
    shutdown_timeout_s: float = Field(30.0, gt=0)

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

    def pipeline_options(self, **overrides: Any) -> PipelineOptions:
        """What the face pipeline needs from these settings (the CLI's flags may override some)."""
        from .vision.pipeline import PipelineOptions

        values = {
            "model_path": self.model_path,
            "device": self.device,
            "flip": self.flip,
            "batch_size": self.batch_size,
            "engine": self.age_engine,
            "engine_threads": self.age_threads,
            "detector_score_threshold": self.detector_score_threshold,
            "detector_nms_threshold": self.detector_nms_threshold,
            "detector_max_side": self.detector_max_side,
            "detector_min_face": self.detector_min_face,
            "detector_threads": self.detector_threads,
            "max_faces": self.max_faces,
        }
        return PipelineOptions(**{**values, **{k: v for k, v in overrides.items() if v is not None}})

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Settings from `config_file` (else $AGE_CONFIG, else ./service.cfg beside the package).

        `overrides` (the command-line flags) win over everything; None values are ignored.
        """
        chosen = config_file or os.environ.get(CONFIG_ENV)
        path = Path(chosen) if chosen else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
        token = _config_file.set(path.resolve() if path else None)
        try:
            return cls(**{key: value for key, value in overrides.items() if value is not None})
        finally:
            _config_file.reset(token)
