"""The page's API types are generated from the service's OpenAPI document, and neither is stale."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..server import REPO

FRONTEND = REPO / "frontend"
TOOL = FRONTEND / "tools" / "openapi-types"


def test_the_committed_document_is_what_the_service_serves() -> None:
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    from openapi import document

    committed = json.loads((FRONTEND / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(document())), "stale: run `make api-types`"


def test_the_generated_types_match_the_document(tmp_path: Path) -> None:
    out = tmp_path / "schema.d.ts"
    binary = TOOL / "node_modules" / ".bin" / "openapi-typescript"
    assert binary.exists(), "run `make setup-frontend`"
    subprocess.run(
        [str(binary), str(FRONTEND / "openapi.json"), "--output", str(out)],
        cwd=TOOL,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert out.read_text() == (FRONTEND / "src" / "api" / "schema.d.ts").read_text(), (
        "stale: run `make api-types`"
    )
