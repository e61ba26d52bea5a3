"""?distribution=true: each face's calibrated age distribution, for the page's live mode."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from ..server import PHOTOS

GROUP = PHOTOS / "pexels" / "pexels-andrea-piacquadio-2672979.jpg"


def post(client: httpx.Client, query: str = "") -> httpx.Response:
    return client.post(f"/predict{query}", files={"file": (GROUP.name, GROUP.read_bytes(), "image/jpeg")})


def test_distribution_only_when_asked_and_it_agrees_with_the_interval_and_checks(
    client: httpx.Client,
) -> None:
    assert all("age_distribution" not in f for f in post(client).json()["faces"])
    assert all("age_distribution" not in f for f in post(client, "?distribution=false").json()["faces"])
    faces = post(client, "?distribution=true&thresholds=18").json()["faces"]
    assert len(faces) >= 4
    for face in faces:
        dist = face["age_distribution"]
        assert dist["age_min"] == 0
        p = np.asarray(dist["probabilities"])
        assert len(p) == 101 and (p >= 0).all() and p.sum() == pytest.approx(1, abs=1e-3)
        # the same distribution the service's own check and interval were read from
        assert p[18:].sum() == pytest.approx(face["age_checks"][0]["p_over"], abs=2e-3)
        cdf = np.cumsum(p)
        low, high = face["age_interval"]
        assert cdf[int(np.floor(low + 0.5))] >= 0.1 - 1e-3 and cdf[int(np.ceil(high))] >= 0.9 - 1e-3


def test_distribution_must_be_a_boolean(client: httpx.Client) -> None:
    response = post(client, "?distribution=maybe")
    assert response.status_code == 422
