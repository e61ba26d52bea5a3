"""Settings: file < environment < flags, typos and bad values refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from inference_service.settings import DEFAULT_CONFIG, Settings, SettingsError

from .server import write_config


def test_shipped_config_loads_with_its_documented_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in __import__("os").environ if k.startswith("AGE_")]:
        monkeypatch.delenv(key)
    settings = Settings.load()
    assert settings.port == 8000 and settings.host == "127.0.0.1" and settings.device == "auto"
    assert settings.model_path == DEFAULT_CONFIG.parent / "models" / "age-resnet50.safetensors"
    assert settings.model_path.is_file()
    assert settings.api_key is None


def test_priority_flags_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path / "s.cfg", port=7000, host="0.0.0.0", max_faces=5, model_path="m.st")
    monkeypatch.setenv("AGE_PORT", "7100")
    monkeypatch.setenv("AGE_MAX_FACES", "9")
    monkeypatch.setenv("AGE_CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("AGE_API_KEY", "s3cret")
    settings = Settings.load(config, port=7200, host=None)
    assert settings.port == 7200  # flag
    assert settings.max_faces == 9  # environment
    assert settings.host == "0.0.0.0"  # file
    assert settings.model_path == tmp_path / "m.st"  # relative to the config file
    assert settings.cors_origins == ["http://a.example", "http://b.example"]
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_config_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGE_CONFIG", str(write_config(tmp_path / "x.cfg", port=7300)))
    assert Settings.load().port == 7300


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"device": "gpu"}, ValidationError),
        ({"port": 70000}, ValidationError),
        ({"detector_score_threshold": 1.5}, ValidationError),
        ({"max_upload_bytes": 10}, ValidationError),
        ({"no_such_key": 1}, SettingsError),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, values: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        Settings.load(write_config(tmp_path / "bad.cfg", **values))


def test_missing_and_invalid_config_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        Settings.load(tmp_path / "absent.cfg")
    broken = tmp_path / "broken.cfg"
    broken.write_text("[service\nport = ")
    with pytest.raises(SettingsError, match="TOML"):
        Settings.load(broken)
