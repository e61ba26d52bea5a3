"""Split a large file into parts below a transfer limit, and join them back with a checksum check.

A GPU machine returns files of at most 16 MiB each; a ResNet-50 checkpoint is ~48 MB.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST = "parts.json"


def split_file(path: str | Path, out_dir: str | Path, part_mib: float = 15.0) -> dict:
    """`<name>.partNN` files of at most `part_mib` MiB, and a manifest with the whole file's SHA-256."""
    path, out = Path(path), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = path.read_bytes()
    step = int(part_mib * 2**20)
    parts = []
    for i, start in enumerate(range(0, max(1, len(data)), step)):
        part = out / f"{path.name}.part{i:02d}"
        part.write_bytes(data[start : start + step])
        parts.append(part.name)
    manifest = {
        "name": path.name,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "parts": parts,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def join_file(parts_dir: str | Path, out_path: str | Path) -> Path:
    """Join the parts a manifest lists; refuse (and write nothing) when the checksum differs."""
    folder = Path(parts_dir)
    manifest = json.loads((folder / MANIFEST).read_text())
    data = b"".join((folder / name).read_bytes() for name in manifest["parts"])
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != manifest["bytes"] or digest != manifest["sha256"]:
        raise ValueError(
            f"joined {len(data)} bytes with SHA-256 {digest[:12]}..., expected "
            f"{manifest['bytes']} bytes {manifest['sha256'][:12]}...: a part is missing or damaged"
        )
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out
