"""OUT's Parquet files: written as the run goes, each whole or absent, and read back by `--resume`.

A run's rows reach OUT in parts of at most `bulk.file_sources` sources or `bulk.file_seconds` of work,
whichever comes first. Each part is written under a temporary name and then renamed (on an object store,
one upload, which appears whole), so a kill loses at most the part in flight. Every source's rows are in
one part. `--resume` reads each part's sources; a part that cannot be read (cut short by an older run or
another tool) is set aside under `<name>.torn` with a warning, and its sources are done again.
"""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from .inputs import file_system, is_uri

log = logging.getLogger(__name__)

PART = "part-{run}-{number:05d}.parquet"
IN_FLIGHT = ".tmp"  # suffix of a part being written
TORN = ".torn"  # suffix of a part set aside because it cannot be read


class TornOutput(RuntimeError):
    """OUT holds the same source in two parts: it was not written by one run of this tool."""


def _file_system(out: str) -> tuple[fs.FileSystem, str]:
    """The file system and the folder inside it, for a local path or a URI."""
    if is_uri(out):
        return file_system(out)
    return fs.LocalFileSystem(), str(Path(out).resolve())


def _listing(out: str) -> tuple[fs.FileSystem, list[str]]:
    """Every file under OUT (recursive), sorted; none when OUT does not exist."""
    system, root = _file_system(out)
    if system.get_file_info(root).type != fs.FileType.Directory:
        return system, []
    found = system.get_file_info(fs.FileSelector(root, recursive=True))
    return system, sorted(e.path for e in found if e.type == fs.FileType.File)


def out_has_parquet(out: str) -> bool:
    return any(path.endswith(".parquet") for path in _listing(out)[1])


def done_sources(out: str) -> set[str]:
    """Sources whose rows are in OUT (what `--resume` skips). Parts in flight when a run was killed are
    removed; unreadable parts are set aside; a source in two parts is refused (`TornOutput`)."""
    system, files = _listing(out)
    owner: dict[str, str] = {}
    for path in files:
        if path.endswith(".parquet" + IN_FLIGHT):
            log.warning("removing %s: a part a stopped run was still writing", path)
            system.delete_file(path)
        elif path.endswith(".parquet"):
            for source in _sources_of(system, path):
                if owner.setdefault(source, path) != path:
                    raise TornOutput(
                        f"{source} has rows in both {owner[source]} and {path}; OUT must hold each source "
                        "once (remove one of them, or annotate into a new folder)"
                    )
    return set(owner)


def _sources_of(system: fs.FileSystem, path: str) -> set[str]:
    """The sources of one part; an unreadable part is set aside (renamed to `.torn`) and counts none."""
    try:
        with system.open_input_file(path) as handle:
            return set(pq.read_table(handle, columns=["source"]).column("source").to_pylist())
    except (pa.ArrowInvalid, OSError) as exc:
        system.move(path, path + TORN)
        log.warning("set aside %s as %s%s (%s): its sources will be annotated again", path, path, TORN, exc)
        return set()


class PartWriter:
    """Collects the actors' output blocks and writes them to OUT in bounded parts, each atomically."""

    def __init__(self, out: str, max_sources: int, max_seconds: float, schema: pa.Schema):
        self.system, self.root = _file_system(out)
        self.system.create_dir(self.root, recursive=True)
        self.max_sources, self.max_seconds, self.schema = max_sources, max_seconds, schema
        self.run = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        self.parts = 0
        self.sources_written = 0
        self._blocks: list[pa.Table] = []
        self._sources: set[str] = set()
        self._started = time.monotonic()

    def add(self, block: Any) -> None:
        """One block of rows (whole sources); a part is written once the bounds are reached."""
        table = pa.Table.from_batches([block]) if isinstance(block, pa.RecordBatch) else block
        if not self._blocks:
            self._started = time.monotonic()
        self._blocks.append(table.select(self.schema.names).cast(self.schema))
        self._sources.update(table.column("source").to_pylist())
        full = len(self._sources) >= self.max_sources
        if full or time.monotonic() - self._started >= self.max_seconds:
            self.flush()

    def flush(self) -> None:
        """Write what is collected as one part: under a temporary name, then renamed."""
        if not self._blocks:
            return
        final = f"{self.root}/{PART.format(run=self.run, number=self.parts)}"
        with self.system.open_output_stream(final + IN_FLIGHT) as stream:
            pq.write_table(pa.concat_tables(self._blocks), stream)
        self.system.move(final + IN_FLIGHT, final)
        self.parts += 1
        self.sources_written += len(self._sources)
        log.info("wrote %s: %d sources (%d this run)", final, len(self._sources), self.sources_written)
        self._blocks, self._sources = [], set()
