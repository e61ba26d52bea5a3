"""Real data for the training tests (UTKFace chips and photos in ../shared) and a CLI runner."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
UTKFACE = SHARED / "utkface"
PHOTOS = SHARED / "photos"
PORTRAIT = PHOTOS / "pexels" / "pexels-mentatdgt-937416.jpg"
DOGS = PHOTOS / "dlib_examples" / "dogs.jpg"

# Small and fast: a from-scratch ResNet-50 at 32 px learns the age prior in a few dozen steps.
TINY_TRAIN = [
    "model.input_size=32",
    "optim.epochs=5",
    "optim.batch_size=16",
    "optim.lr=1e-3",
    "optim.warmup_epochs=0.5",
    "optim.ema_decay=0.99",
    "run.progress=false",
    "run.num_threads=2",
]


def chip_age(name: str) -> int:
    return int(re.match(r"\s*(\d+)", name).group(1))


def stratified_chips(count: int, offset: float = 0.5) -> list[str]:
    """`count` UTKFace chip names spread evenly over the age-sorted folder (deterministic)."""
    names = sorted(
        (p.name for p in UTKFACE.iterdir() if p.name.endswith(".jpg")), key=lambda n: (chip_age(n), n)
    )
    step = len(names) / count
    return [names[int((i + offset) * step)] for i in range(count)]


def link_chips(folder: Path, names: list[str]) -> Path:
    """A folder of symlinks to real chips (nothing is copied)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).symlink_to(UTKFACE / name)
    return folder


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m training ...` in the repository root, as a user would run it; fails loudly."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "training", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result
