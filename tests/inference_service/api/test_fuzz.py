"""Fuzzing the live service: Schemathesis against its /openapi.json (zero failures), and a corpus of
truncated and mutated JPEG, PNG and WebP files made here from ../shared photos (never stored in the
repository): every one gets a deliberate answer, no 5xx, and the server's memory comes back to baseline.

Schemathesis runs through its CLI (the pytest plugin's lazy loader does not work with pytest 9);
the checks and their few documented adjustments live in schemathesis.toml here.
"""

from __future__ import annotations

import io
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
from PIL import Image

from ..server import DLIB, PHOTOS, ServerProcess

CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_finds_no_failures(server: ServerProcess, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(CONFIG),
        "--no-color",
        "run", server.url + "/openapi.json",
        "--max-examples", "40",
        "--seed", "20261122",
        "--request-timeout", "60",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Tested: 7" in output and "❌" not in output
    # Schemathesis makes valid PNGs for image/* parts, but nothing it makes for video/* is a video, so
    # /predict/video rightly refuses most of its cases (415): the one warning allowed.
    warnings = output.split("=== WARNINGS ===")[1].split("=== SUMMARY ===")[0] if "WARNINGS" in output else ""
    listed = [line.strip() for line in warnings.splitlines() if line.strip().startswith("- ")]
    assert "No issues found" in output or (
        listed == ["- POST /predict/video"] and "Schema validation mismatch" in warnings
    ), output[-3000:]
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200


FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
SOURCES = [DLIB / "2008_001009.jpg", PHOTOS / "pexels" / "pexels-andrea-piacquadio-2672979.jpg"]
DELIBERATE = {200, 400, 413, 415}  # answered, broken image, over a limit, not an image


def _encoded(path: Path, fmt: str) -> bytes:
    image = Image.open(path).convert("RGB")
    image.thumbnail((640, 640))  # small: the corpus is about the parser, not the networks
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _variants(data: bytes, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Truncations (inside the header and the data), flipped bytes (header and body), overwritten runs,
    a zeroed header and a duplicated middle."""
    for fraction in (0.002, 0.01, 0.05, 0.3, 0.7, 0.99):
        yield f"cut{fraction}", data[: max(1, int(len(data) * fraction))]
    for count, span in ((1, 64), (4, 512), (16, len(data)), (64, len(data))):
        mutated = bytearray(data)
        for _ in range(count):
            mutated[rng.randrange(min(span, len(data)))] ^= 1 << rng.randrange(8)
        yield f"flip{count}/{span}", bytes(mutated)
    for _ in range(3):
        mutated, start = bytearray(data), rng.randrange(len(data))
        mutated[start : start + 32] = rng.randbytes(32)
        yield "overwrite", bytes(mutated)
    yield "zeroed-header", bytes(32) + data[32:]
    middle = len(data) // 2
    yield "repeated", data[:middle] + data[middle // 2 :]


def _corpus() -> list[tuple[str, bytes, str]]:
    rng = random.Random(20261201)
    corpus = []
    for path in SOURCES:
        for fmt, content_type in FORMATS.items():
            for name, data in _variants(_encoded(path, fmt), rng):
                corpus.append((f"{path.stem}.{fmt.lower()}:{name}", data, content_type))
    return corpus


def _send(client: httpx.Client, corpus: list[tuple[str, bytes, str]]) -> Counter:
    statuses: Counter = Counter()
    for name, data, content_type in corpus:
        response = client.post("/predict", files={"file": ("fuzz", data, content_type)})
        assert response.status_code in DELIBERATE, (name, response.status_code, response.text)
        statuses[response.status_code] += 1
    return statuses


def test_a_corpus_of_broken_images_gets_no_5xx_and_leaves_memory_at_baseline(
    server: ServerProcess, server_client: httpx.Client
) -> None:
    corpus = _corpus()
    _send(server_client, corpus)  # the first pass settles the allocator; the second must not grow it
    baseline = server.rss_mb()
    statuses = _send(server_client, corpus)
    grown = server.rss_mb() - baseline
    print(
        f"fuzz corpus: {len(corpus)} files, {dict(statuses)}, memory {grown:+.1f} MB over {baseline:.0f} MB"
    )
    assert statuses[200] and statuses[400], statuses  # the corpus reaches both the decoder and the models
    assert grown <= max(16.0, 0.02 * baseline), f"memory grew {grown:.1f} MB over {baseline:.0f} MB"
    assert server_client.get("/ready").status_code == 200
