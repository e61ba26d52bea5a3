"""Defaults live in the settings class and its sections (vision/options.py); service.cfg and
docs/configuration.md are copies that must agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from inference_service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SHIPPED = tomllib.loads((REPO / "service.cfg").read_text())["service"]
DOCS = (REPO / "docs" / "configuration.md").read_text()
OPTIONAL = {"api_key"}  # unset by default: service.cfg shows it commented out


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
