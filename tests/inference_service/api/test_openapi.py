"""The OpenAPI document: valid, every status documented, /docs served; the page's API types are generated
from it, and neither is stale."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import schemathesis

from ..server import REPO

FRONTEND = REPO / "frontend"
TOOL = FRONTEND / "tools" / "openapi-types"

RETURNED = {
    ("/predict", "post"): {200, 400, 401, 413, 415, 422, 500, 503},
    ("/predict/batch", "post"): {200, 400, 401, 413, 422, 503},
    ("/health", "get"): {200},
    ("/ready", "get"): {200, 503},
    ("/model", "get"): {200, 401, 503},
    ("/metrics", "get"): {200, 404},
}


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


def test_openapi_validates_and_documents_every_status(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    schemathesis.openapi.from_dict(document).validate()  # raises on an invalid document
    for (path, method), codes in RETURNED.items():
        operation = document["paths"][path][method]
        assert {int(code) for code in operation["responses"]} >= codes, (path, method)
        for code in codes - {200}:
            assert operation["responses"][str(code)]["content"]["application/json"]["example"]["detail"]
    predict = document["paths"]["/predict"]["post"]
    assert "multipart/form-data" in predict["requestBody"]["content"]
    assert predict["responses"]["200"]["content"]["application/json"]["schema"]
    batch_files = document["paths"]["/predict/batch"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert batch_files["schema"]["properties"]["files"]["maxItems"] == 8
    schemas = json.dumps(document["components"]["schemas"])
    assert '"example"' in schemas  # response examples for /docs


def test_docs_page(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()
