"""`python -m training template` re-measures the alignment template on real UTKFace chips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from training_testdata import link_chips, run_cli, stratified_chips

from inference_service.vision.align import UTKFACE_TEMPLATE
from training.template import as_python, symmetrise


def test_measured_template_matches_the_shipped_one(tmp_path: Path) -> None:
    folder = link_chips(tmp_path / "chips", stratified_chips(40, offset=0.25))
    (folder / "readme.txt").write_text("ignored")
    result = json.loads(run_cli("template", "--input", str(folder), "--limit", "40", "--json").stdout)
    assert (
        result["images"] == 40 and result["measured"] + result["no_face"] == 40 and result["measured"] >= 36
    )
    template = np.array(result["template"])
    assert np.abs(template - np.array(UTKFACE_TEMPLATE)).max() < 0.02  # 4 px on a 200 px chip
    assert np.allclose(symmetrise(template), template, atol=1e-3)
    assert np.array(result["std"]).max() < 0.1  # the chips really are aligned


def test_printed_form_is_the_python_constant(tmp_path: Path) -> None:
    folder = link_chips(tmp_path / "chips", stratified_chips(6))
    text = run_cli("template", "--input", str(folder)).stdout
    assert "UTKFACE_TEMPLATE: tuple[tuple[float, float], ...] = (" in text and "6 of 6 chips" in text
    constant = as_python([list(p) for p in UTKFACE_TEMPLATE])
    namespace: dict = {}
    exec(constant, namespace)
    assert namespace["UTKFACE_TEMPLATE"] == UTKFACE_TEMPLATE
