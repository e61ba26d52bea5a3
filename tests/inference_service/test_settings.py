"""Settings: file < environment < flags, typos and bad values refused; the defaults live in the settings
class and its sections (vision/options.py), and service.cfg and docs/configuration.md are copies that
must agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from inference_service.settings import DEFAULT_CONFIG, Settings, SettingsError

from .server import REPO, write_config

SHIPPED = tomllib.loads((REPO / "service.cfg").read_text())["service"]
DOCS = (REPO / "docs" / "configuration.md").read_text()
OPTIONAL = {"api_key"}  # unset by default: service.cfg shows it commented out


def test_shipped_config_loads_with_its_documented_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in __import__("os").environ if k.startswith("AGE_")]:
        monkeypatch.delenv(key)
    settings = Settings.load()
    assert settings.port == 8000 and settings.host == "127.0.0.1" and settings.device == "auto"
    assert settings.age_model.path == DEFAULT_CONFIG.parent / "models" / "age-ensemble.json"
    assert settings.age_model.path.is_file()
    assert settings.api_key is None


def test_priority_flags_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(
        tmp_path / "s.cfg",
        port=7000,
        host="0.0.0.0",
        detector={"max_faces": 5, "max_side": 640},
        age_model={"path": "m.st"},
    )
    monkeypatch.setenv("AGE_PORT", "7100")
    monkeypatch.setenv("AGE_DETECTOR__MAX_FACES", "9")
    monkeypatch.setenv("AGE_CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("AGE_API_KEY", "s3cret")
    settings = Settings.load(config, port=7200, host=None)
    assert settings.port == 7200  # flag
    assert settings.detector.max_faces == 9  # environment
    assert settings.host == "0.0.0.0" and settings.detector.max_side == 640  # file, in and out of a section
    assert settings.age_model.path == tmp_path / "m.st"  # relative to the config file
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
        ({"detector": {"score_threshold": 1.5}}, ValidationError),
        ({"max_upload_bytes": 10}, ValidationError),
        ({"no_such_key": 1}, SettingsError),
        ({"detector": {"no_such_key": 1}}, ValidationError),
        ({"age_model": {"engine": "tensorrt"}}, ValidationError),
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


def test_a_key_from_before_the_sections_says_where_it_moved(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"model_path is now \[service.age_model\] path"):
        Settings.load(write_config(tmp_path / "old.cfg", model_path="m.st"))


def test_max_pending_is_refused_with_what_replaced_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SettingsError, match=r"max_pending is gone: max_queue_wait_s"):
        Settings.load(write_config(tmp_path / "old.cfg", max_pending=16))
    monkeypatch.setenv("AGE_MAX_PENDING", "16")
    with pytest.raises(SettingsError, match=r"AGE_MAX_PENDING.*max_queue_wait_s"):
        Settings.load(write_config(tmp_path / "new.cfg"))


def test_flag_overrides_change_one_field_of_a_section(tmp_path: Path) -> None:
    config = write_config(tmp_path / "s.cfg", detector={"max_faces": 5})
    settings = Settings.load(config, detector={"score_threshold": 0.5, "threads": None})
    assert (settings.detector.score_threshold, settings.detector.max_faces) == (0.5, 5)
    assert settings.detector.threads == 0  # None: not given


def _keys() -> dict[str, object]:
    """Every key as service.cfg and the page name it (`port`, `detector.max_side`) with its default."""
    keys: dict[str, object] = {}
    for name, field in Settings.model_fields.items():
        value = field.get_default(call_default_factory=True)
        if isinstance(value, BaseModel):
            keys.update({f"{name}.{key}": getattr(value, key) for key in type(value).model_fields})
        else:
            keys[name] = value
    return {name: str(value) if isinstance(value, Path) else value for name, value in keys.items()}


KEYS = _keys()


def default(name: str) -> object:
    return KEYS[name]


def shipped(name: str) -> dict:
    """The service.cfg table that holds `name`, and the key's name inside it."""
    section, _, key = name.rpartition(".")
    return (SHIPPED[section] if section else SHIPPED), key


@pytest.mark.parametrize("name", sorted(KEYS))
def test_service_cfg_sets_every_key_to_the_class_default(name: str) -> None:
    if name in OPTIONAL:
        assert f"# {name} = " in (REPO / "service.cfg").read_text()
        return
    table, key = shipped(name)
    assert key in table, f"service.cfg lacks {name}"
    assert table[key] == default(name), (
        f"service.cfg says {name} = {table[key]!r}, the class {default(name)!r}"
    )


@pytest.mark.parametrize("name", sorted(KEYS))
def test_the_configuration_page_documents_every_key_with_its_default(name: str) -> None:
    row = re.search(rf"^\| `{name}` \| (.+?) \|", DOCS, flags=re.MULTILINE)
    assert row, f"docs/configuration.md has no row for {name}"
    if name in OPTIONAL:
        assert "unset" in row.group(1)
        return
    value = default(name)
    shown = {True: "true", False: "false"}.get(value, value) if isinstance(value, bool) else value
    literal = str(shown).replace("'", '"') if not isinstance(value, float) else f"{value:g}"
    assert literal in row.group(1).replace("`", ""), (
        f"{name}: the page says {row.group(1)}, the class {literal}"
    )
