"""The graph engines run a prebuilt ONNX graph that records its checkpoint's sha256, never torch.

Where the graph comes from: beside the checkpoint (the image), else the XDG cache keyed by the
checkpoint's sha256, exported in a child process on the first start (a checkout). A graph made from
other weights is refused. The tests' cache is a temporary folder (tests/conftest.py).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from inference_service.vision import graph_export
from inference_service.vision.checkpoint import CheckpointError, read_metadata, rewrite_metadata
from inference_service.vision.engines import file_sha256
from inference_service.vision.estimator import AgeEstimator
from inference_service.vision.graph_export import beside, cache_dir, cached, graph_for
from training.export import stamp, write_atomically

from ..server import CHECKPOINT, ServerProcess

GRAPH_ENGINES = ("onnx", "openvino-bf16")


@pytest.fixture(scope="module")
def shipped_graph() -> Path:
    """The shipped checkpoint's graph, exported once into the tests' cache (or found there)."""
    return graph_for(CHECKPOINT, file_sha256(CHECKPOINT))


@pytest.fixture
def checkpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A copy of the shipped checkpoint in its own folder, with an empty graph cache of its own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    copy = tmp_path / "model.safetensors"
    shutil.copyfile(CHECKPOINT, copy)
    return copy


def test_the_running_service_never_maps_torch(server: ServerProcess) -> None:
    """The session server runs `auto` on the CPU (openvino-bf16 or onnx): no libtorch in its memory."""
    maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
    assert "openvino" in maps or "onnxruntime" in maps
    assert "libtorch" not in maps and "libc10" not in maps


def test_the_cache_is_the_xdg_one_and_the_tests_keep_out_of_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert not cache_dir().is_relative_to(Path.home() / ".cache")  # tests/conftest.py points it elsewhere
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cached("ab" * 32) == tmp_path / "age-estimator" / "graphs" / f"{'ab' * 32}.onnx"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # the XDG spec says: ignore it
    assert cache_dir() == Path.home() / ".cache" / "age-estimator"


def test_the_first_start_exports_into_the_cache_and_later_starts_read_it(
    monkeypatch: pytest.MonkeyPatch, checkpoint: Path
) -> None:
    first = AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine="onnx")
    graph = cached(file_sha256(checkpoint))
    assert graph.is_file() and not beside(checkpoint).exists()
    # Only graphs named by a checkpoint's sha256 live there: nothing of a request, no half-written file.
    assert [p.relative_to(cache_dir()) for p in cache_dir().rglob("*") if p.is_file()] == [
        Path("graphs") / graph.name
    ]

    def no_export(checkpoint: Path, out: Path) -> Path:
        raise AssertionError("a cached graph must not be exported again")

    monkeypatch.setattr(graph_export, "make_graph", no_export)
    again = AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine="openvino-bf16")
    assert (first.engine, again.engine) == ("onnx", "openvino-bf16")


def test_a_changed_checkpoint_gets_a_graph_of_its_own(
    monkeypatch: pytest.MonkeyPatch, checkpoint: Path
) -> None:
    made: list[Path] = []
    monkeypatch.setattr(graph_export, "make_graph", lambda checkpoint, out: made.append(out) or out)
    graph_for(checkpoint, file_sha256(checkpoint))
    metadata = read_metadata(checkpoint)
    rewrite_metadata(CHECKPOINT, replace(metadata, version="9.9"), checkpoint)  # same weights, other file
    graph_for(checkpoint, file_sha256(checkpoint))
    assert len(made) == 2 and made[0] != made[1]
    assert [p.stem for p in made] == [file_sha256(CHECKPOINT), file_sha256(checkpoint)]


def test_a_prebuilt_graph_beside_the_checkpoint_comes_first(shipped_graph: Path, checkpoint: Path) -> None:
    shutil.copyfile(shipped_graph, beside(checkpoint))
    assert graph_for(checkpoint, file_sha256(checkpoint)) == beside(checkpoint)


@pytest.mark.parametrize("engine", GRAPH_ENGINES)
def test_a_graph_of_other_weights_is_refused(engine: str, shipped_graph: Path, checkpoint: Path) -> None:
    other = stamp(shipped_graph.read_bytes(), "0" * 64, read_metadata(CHECKPOINT))
    write_atomically(beside(checkpoint), other)
    served = file_sha256(CHECKPOINT)[:12]
    with pytest.raises(
        CheckpointError,
        match=rf"model\.onnx was exported from other weights \(sha256 000000000000…\) than "
        rf".*model\.safetensors \(sha256 {served}…\); make it again with `python -m training export",
    ):
        AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine=engine)


def test_a_graph_that_records_no_checkpoint_is_refused(shipped_graph: Path, checkpoint: Path) -> None:
    import onnx

    model = onnx.load_model(shipped_graph)
    del model.metadata_props[:]
    write_atomically(beside(checkpoint), model.SerializeToString())
    with pytest.raises(CheckpointError, match="does not record which checkpoint it was exported from"):
        AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine="onnx")


def test_without_a_graph_or_torch_the_error_says_how_to_make_one(
    monkeypatch: pytest.MonkeyPatch, checkpoint: Path
) -> None:
    """The service image has no torch: a checkpoint mounted without its graph fails in one clear line."""
    real_find_spec = graph_export.importlib.util.find_spec
    monkeypatch.setattr(
        graph_export.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "torch" else real_find_spec(name, *args),
    )
    with pytest.raises(CheckpointError, match=r"no ONNX graph for .* torch, .* is not installed here: run "):
        AgeEstimator.from_checkpoint(checkpoint, device="cpu", engine="openvino-bf16")


def test_a_failed_export_says_why(tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(CHECKPOINT.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"exporting .* to ONNX failed: error: checkpoint"):
        graph_export.make_graph(broken, tmp_path / "graph.onnx")
