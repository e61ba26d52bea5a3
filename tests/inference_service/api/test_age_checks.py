"""Age checks through the API: ?thresholds=, the settings' defaults, and the 422s.

The arithmetic (P(age >= T), the verdict, the grammar): vision/test_age_checks.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from inference_service.settings import Settings
from inference_service.vision.pipeline import FacePipeline

from ..conftest import SESSION_MAX_FACES, app_client, load_settings
from ..server import CHECKPOINT, PHOTOS, write_config

GROUP = PHOTOS / "pexels" / "pexels-andrea-piacquadio-2672979.jpg"
CHILD = PHOTOS / "pexels" / "pexels-alexey-makhinko-929436.jpg"


def post(client: httpx.Client, path: Path, query: str = "") -> httpx.Response:
    return client.post(f"/predict{query}", files={"file": (path.name, path.read_bytes(), "image/jpeg")})


def test_each_face_gets_one_check_per_threshold_in_order(client: httpx.Client) -> None:
    body = post(client, GROUP, "?thresholds=25,13,21,18").json()
    assert len(body["faces"]) >= 4
    for face in body["faces"]:
        checks = face["age_checks"]
        assert [c["threshold"] for c in checks] == [13, 18, 21, 25]
        p = [c["p_over"] for c in checks]
        assert all(0 <= v <= 1 for v in p) and p == sorted(p, reverse=True)
        for check in checks:
            expected = (
                "over" if check["p_over"] >= 0.9 else "under" if check["p_over"] <= 0.1 else "uncertain"
            )
            assert (
                check["verdict"] == expected
                or abs(check["p_over"] - 0.9) < 1e-3
                or abs(check["p_over"] - 0.1) < 1e-3
            )


def test_a_young_child_is_under_18_and_no_checks_unless_asked(client: httpx.Client) -> None:
    (face,) = post(client, CHILD, "?thresholds=18").json()["faces"]
    assert face["age_checks"] == [{"threshold": 18, "p_over": pytest.approx(0, abs=0.01), "verdict": "under"}]
    assert all("age_checks" not in f for f in post(client, CHILD).json()["faces"])
    assert all("age_checks" not in f for f in post(client, CHILD, "?thresholds=").json()["faces"])


def test_batch_checks_every_file(client: httpx.Client) -> None:
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in (CHILD, GROUP)]
    results = client.post("/predict/batch?thresholds=21", files=files).json()["results"]
    assert [r["status"] for r in results] == [200, 200]
    for result in results:
        assert all([c["threshold"] for c in f["age_checks"]] == [21] for f in result["result"]["faces"])


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("abc", "'abc' is not a whole number of years"),
        ("18,,21", "value 2 of 3 is empty"),
        ("-1", "-1 is outside the model's age range 0..100"),
        ("500", "500 is outside the model's age range 0..100"),
        ("1,2,3,4,5,6,7,8,9", "at most 8 values, got 9"),
    ],
)
def test_bad_thresholds_get_a_422_saying_which(client: httpx.Client, query: str, says: str) -> None:
    for path in ("/predict", "/predict/batch"):
        response = client.post(f"{path}?thresholds={query}", files={"file": ("a.jpg", b"x")})
        assert response.status_code == 422
        assert response.json() == {"detail": f"thresholds: {says}"}


def test_docs_describe_thresholds_with_an_example(client: httpx.Client) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/predict"]["post"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == "thresholds"]
    assert parameter["in"] == "query" and parameter["examples"]["usual"]["value"] == "13,18,21,25"
    assert "?thresholds=18" in operation["description"]
    face = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert face.endswith("PredictResponse")


@pytest.fixture(scope="module")
def defaults_app(
    tmp_path_factory: pytest.TempPathFactory, pipelines: Callable[[Settings], FacePipeline]
) -> Iterator[TestClient]:
    """The shipped model with default thresholds (from the environment) and its own confidence."""
    config = write_config(
        tmp_path_factory.mktemp("checks") / "d.cfg",
        device="cpu",
        age_model={"path": str(CHECKPOINT), "flip": False},  # the session's models: loaded once
        detector={"max_faces": SESSION_MAX_FACES},
        check_confidence=0.8,
    )
    with app_client(load_settings(config, env={"AGE_AGE_THRESHOLDS": "21,18"}), pipelines) as client:
        yield client


def test_service_defaults_apply_when_a_request_names_no_thresholds(defaults_app: TestClient) -> None:
    client = defaults_app
    (face,) = post(client, CHILD).json()["faces"]
    assert [c["threshold"] for c in face["age_checks"]] == [18, 21]
    (face,) = post(client, CHILD, "?thresholds=13").json()["faces"]
    assert [c["threshold"] for c in face["age_checks"]] == [13]
