"""Defaults live in the settings class; service.cfg and docs/configuration.md are copies that must agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from inference_service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SHIPPED = tomllib.loads((REPO / "service.cfg").read_text())["service"]
DOCS = (REPO / "docs" / "configuration.md").read_text()
OPTIONAL = {"api_key"}  # unset by default: service.cfg shows it commented out


def default(name: str) -> object:
    value = Settings.model_fields[name].get_default(call_default_factory=True)
    return str(value) if isinstance(value, Path) else value


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_service_cfg_sets_every_key_to_the_class_default(name: str) -> None:
    if name in OPTIONAL:
        assert f"# {name} = " in (REPO / "service.cfg").read_text()
        return
    assert name in SHIPPED, f"service.cfg lacks {name}"
    assert SHIPPED[name] == default(name), (
        f"service.cfg says {name} = {SHIPPED[name]!r}, the class {default(name)!r}"
    )


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
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
