"""What to annotate, and the bytes of one source: local paths or URIs.

A source is a local path (made absolute here, so workers on other machines of the same image read
the same file) or a URI that pyarrow's file systems open (`s3://`, `gs://`, ...), the ones Ray's
own readers take.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..video.frames import VIDEO_SUFFIXES
from ..vision.decode import IMAGE_SUFFIXES

# Folders yield files that look like photos or videos; those refused (SVG, HEIC...) become error rows.
PHOTO_SUFFIXES = frozenset(
    (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES, ".svg", ".svgz", ".heic", ".heif", ".avif", ".jxl")
)
LIST_SUFFIXES = frozenset((".txt", ".lst"))
_GLOB = frozenset("*?[")


def is_uri(source: str) -> bool:
    return "://" in source and not source.startswith("file://")


def file_system(uri: str) -> tuple[Any, str]:
    """pyarrow's file system for a URI, and the path inside it (imported late: only URIs need it)."""
    from pyarrow import fs

    return fs.FileSystem.from_uri(uri)


def _uri_sources(uri: str) -> Iterator[str]:
    """A URI's files: itself when a file, else its photos (recursive); globs are for local paths."""
    from pyarrow import fs

    system, path = file_system(uri)
    info = system.get_file_info(path)
    scheme = uri.split("://", 1)[0]
    if info.type == fs.FileType.File:
        yield uri
        return
    if info.type != fs.FileType.Directory:
        raise FileNotFoundError(f"no such file or folder: {uri}")
    found = system.get_file_info(fs.FileSelector(path, recursive=True))
    for entry in sorted(found, key=lambda e: e.path):
        if entry.type == fs.FileType.File and Path(entry.path).suffix.lower() in PHOTO_SUFFIXES:
            yield f"{scheme}://{entry.path}"


def _folder(path: Path) -> Iterator[str]:
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in PHOTO_SUFFIXES:
                yield str(Path(root, name))


def _glob(pattern: str) -> Iterator[str]:
    for match in sorted(glob.glob(pattern, recursive=True)):
        if Path(match).is_file():
            yield os.path.abspath(match)


def _list_file(path: Path) -> Iterator[str]:
    """One source per line; blank lines and `#` comments skipped; relative paths from the working dir."""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line if is_uri(line) else os.path.abspath(line)


def list_sources(inputs: list[str]) -> list[str]:
    """Every source, in a stable order, each once: folders (recursive), globs, list files, files, URIs.

    A file named in a list or given directly is taken whatever its name, so a photo with a wrong
    extension still gets its row.
    """
    sources: dict[str, None] = {}
    for item in inputs:
        if is_uri(item):
            found: Iterator[str] = _uri_sources(item)
        elif _GLOB & set(item):
            found = _glob(item)
        elif Path(item).is_dir():
            found = _folder(Path(os.path.abspath(item)))
        elif Path(item).suffix.lower() in LIST_SUFFIXES:
            found = _list_file(Path(item))
        elif Path(item).is_file():
            found = iter([os.path.abspath(item)])
        else:
            raise FileNotFoundError(f"no such file, folder or list: {item}")
        sources.update(dict.fromkeys(found))
    return list(sources)


def read_source(source: str, max_bytes: int) -> bytes | None:
    """The file's bytes, or None when it is over `max_bytes` (checked before a byte is read)."""
    if is_uri(source):
        system, path = file_system(source)
        if system.get_file_info(path).size > max_bytes:
            return None
        with system.open_input_stream(path) as stream:
            return stream.read()
    with open(source, "rb") as handle:
        if os.fstat(handle.fileno()).st_size > max_bytes:
            return None
        return handle.read(max_bytes + 1)
