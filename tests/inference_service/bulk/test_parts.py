"""OUT's Parquet parts without Ray: bounded, each whole or absent, and read back by --resume."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from inference_service.bulk import parts
from inference_service.bulk.parts import PartWriter, TornOutput, done_sources
from inference_service.bulk.rows import SCHEMA, table


def _block(sources: list[str], faces: int = 2) -> pa.Table:
    """The rows an actor hands back: `faces` rows per source, all of a source together."""
    return table(
        {"source": s, "status": 200, "faces": faces, "face": i, "age": 30.0 + i}
        for s in sources
        for i in range(faces)
    )


def test_parts_are_bounded_by_sources_and_hold_whole_sources(tmp_path: Path) -> None:
    writer = PartWriter(str(tmp_path / "out"), max_sources=5, max_seconds=3600, schema=SCHEMA)
    names = [f"/photos/{i:03d}.jpg" for i in range(23)]
    for start in range(0, len(names), 3):  # blocks of 3 sources
        writer.add(_block(names[start : start + 3]))
    writer.flush()
    files = sorted((tmp_path / "out").glob("*.parquet"))
    assert len(files) == writer.parts == 4  # 6, 6, 6 and 5 sources: a part closes at a block's end
    assert writer.sources_written == len(names)
    per_file = [set(pq.read_table(f).column("source").to_pylist()) for f in files]
    assert sum(len(s) for s in per_file) == len(names) and set().union(*per_file) == set(names)
    assert all(len(s) <= 5 + 2 for s in per_file)
    assert not list((tmp_path / "out").glob("*" + parts.IN_FLIGHT))
    assert pq.read_table(files[0]).schema.equals(SCHEMA)
    assert done_sources(str(tmp_path / "out")) == set(names)


def test_a_part_is_written_after_max_seconds_of_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 0.0, 30.0, 61.0, 61.0])
    monkeypatch.setattr(parts.time, "monotonic", lambda: next(clock))
    writer = PartWriter(str(tmp_path), max_sources=500, max_seconds=60, schema=SCHEMA)
    writer.add(_block(["a"]))
    assert writer.parts == 0
    writer.add(_block(["b"]))  # 61 s after the part began
    assert writer.parts == 1 and writer.sources_written == 2


def test_resume_sets_a_torn_part_aside_and_removes_one_in_flight(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = PartWriter(str(tmp_path), max_sources=2, max_seconds=3600, schema=SCHEMA)
    for pair in (["a", "b"], ["c", "d"], ["e", "f"]):
        writer.add(_block(pair))
    second = sorted(tmp_path.glob("*.parquet"))[1]
    data = second.read_bytes()
    second.write_bytes(data[: len(data) // 2])  # cut short, as a killed writer of another tool leaves it
    (tmp_path / ("part-x-00009.parquet" + parts.IN_FLIGHT)).write_bytes(data[:100])
    with caplog.at_level(logging.WARNING, logger="inference_service.bulk.parts"):
        assert done_sources(str(tmp_path)) == {"a", "b", "e", "f"}  # c and d will be annotated again
    assert second.name in caplog.text and "annotated again" in caplog.text
    assert (
        not second.exists() and (tmp_path / (second.name + parts.TORN)).read_bytes() == data[: len(data) // 2]
    )
    assert not list(tmp_path.glob("*" + parts.IN_FLIGHT))
    assert done_sources(str(tmp_path)) == {"a", "b", "e", "f"}  # and it stays aside


def test_resume_refuses_a_source_in_two_parts(tmp_path: Path) -> None:
    pq.write_table(_block(["a", "b"]), tmp_path / "one.parquet")
    pq.write_table(_block(["b"]), tmp_path / "two.parquet")
    with pytest.raises(TornOutput, match=r"b has rows in both .*one\.parquet and .*two\.parquet"):
        done_sources(str(tmp_path))


def test_nothing_there_is_nothing_done(tmp_path: Path) -> None:
    assert done_sources(str(tmp_path / "missing")) == set()
