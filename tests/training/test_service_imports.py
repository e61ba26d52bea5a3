"""The service shares `inference_service.vision` with training but must not pull in training-only packages."""

from __future__ import annotations

import json
import subprocess
import sys

from training_testdata import REPO

PROBE = """
import json, pkgutil, sys, importlib
import torch, torchvision  # baseline: what torch itself imports is not ours to judge
import ray, ray.data  # the same for Ray (bulk annotation's engine), which brings its own tqdm
before = set(sys.modules)
import inference_service
for info in pkgutil.walk_packages(inference_service.__path__, "inference_service."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
new = sorted(set(sys.modules) - before)
print(json.dumps({"new": new, "all": sorted(sys.modules)}))
"""
TRAINING_ONLY = ("scipy", "matplotlib", "tqdm", "training", "tomli_w")


def test_importing_every_service_module_pulls_in_no_training_dependency() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert any(m.startswith("inference_service.vision.") for m in modules["new"])
    offenders = [m for m in modules["new"] if m.split(".")[0] in TRAINING_ONLY]
    assert offenders == []
    assert not [m for m in modules["all"] if m.split(".")[0] in ("scipy", "matplotlib", "training")]
