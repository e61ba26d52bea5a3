"""Bulk annotation: a real two-node Ray cluster annotates ../shared photos, UTKFace chips and hostile
files, and every Parquet row says what `POST /predict` says about the same file."""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from inference_service.bulk.inputs import list_sources
from inference_service.bulk.rows import OK, photo_row
from inference_service.bulk.run import Annotator, BulkError, actor_pool, decode_batch, plan
from inference_service.settings import Settings

from .ray_cluster import RayCluster
from .server import DLIB, PHOTOS, REPO, UTKFACE

CHIPS = 200  # a few hundred faces: enough to fill batches on both nodes, short enough for CI
THRESHOLDS = "18,25"
# Two actors of 0.6 CPU cannot share a 1-CPU node, so each node holds one; 0.4 per node is left for
# a decoding task (0.3).
BATCH_PHOTOS = 16
BULK = f"[service.bulk]\nactors = 2\nactor_cpus = 0.6\ndecode_cpus = 0.3\nbatch_photos = {BATCH_PHOTOS}\n"


def _png_with_size(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose header then claims `width` x `height` (an image bomb, 70-odd bytes)."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def _hostile(folder: Path) -> list[Path]:
    """Files the API refuses, each for a different reason."""
    photo = (DLIB / "2008_002506.jpg").read_bytes()
    files = {
        "bomb.png": _png_with_size(30_000, 30_000),
        "truncated.jpg": photo[: len(photo) // 3],
        "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        "notes-named-like-a-photo.jpg": b"this is text, not a JPEG\n" * 20,
        "empty.jpg": b"",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in files]


def _post(client: httpx.Client, path: Path) -> httpx.Response:
    files = {"file": (path.name, path.read_bytes(), "application/octet-stream")}
    return client.post("/predict", params={"thresholds": THRESHOLDS}, files=files)


def _command(
    cluster: RayCluster, config: Path, out: Path, *inputs: str, tmpdir: Path, address: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """The annotate command line against `cluster`, and its environment."""
    args = [sys.executable, "-m", "inference_service.annotate", *inputs, "--out", str(out)]
    args += ["--config", str(config), "--address", address or cluster.address]
    args += ["--thresholds", THRESHOLDS, "--no-progress"]
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**cluster.env, "PYTHONPATH": path, "TMPDIR": str(tmpdir)}
    return args, {k: v for k, v in env.items() if not k.startswith("AGE_")}


def _annotate(
    cluster: RayCluster,
    config: Path,
    out: Path,
    *inputs: str,
    tmpdir: Path,
    resume: bool = False,
    address: str | None = None,
):
    args, env = _command(cluster, config, out, *inputs, tmpdir=tmpdir, address=address)
    result = subprocess.run(
        [*args, *(["--resume"] if resume else [])],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"annotate exited {result.returncode}:\n{result.stderr[-4000:]}"
    return result


@pytest.fixture
def no_age_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AGE_* variable of the calling shell: settings come from the files the test names."""
    for key in [k for k in os.environ if k.startswith("AGE_")]:
        monkeypatch.delenv(key)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    """Two Ray nodes of one CPU each on 127.0.0.1, stopped whatever happens."""
    ray_cluster = RayCluster(tmp_path_factory.mktemp("ray"), nodes=2, cpus=1)
    try:
        yield ray_cluster.start()
    finally:
        ray_cluster.stop()
        assert not ray_cluster.processes(), "Ray processes outlived the test"


def _by_source(table: pa.Table) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for row in table.to_pylist():
        rows.setdefault(row["source"], []).append(row)
    return {source: sorted(found, key=lambda r: r["face"] or 0) for source, found in rows.items()}


def _assert_same_face(row: dict, face: dict) -> None:
    """Detection is per photo and identical; the age network saw other batches, so its numbers may
    differ in the last digit."""
    assert row["box"] == face["box"] and row["score"] == face["score"]
    assert row["landmarks"] == face["landmarks"]
    assert row["age"] == pytest.approx(face["age"], abs=0.11)
    assert row["age_interval"] == pytest.approx(face["age_interval"], abs=0.11)
    served = {c["threshold"]: c for c in face["age_checks"]}
    for check in row["age_checks"]:
        assert check["p_over"] == pytest.approx(served[check["threshold"]]["p_over"], abs=0.003)
        if abs(check["p_over"] - 0.9) > 0.005 and abs(check["p_over"] - 0.1) > 0.005:
            assert check["verdict"] == served[check["threshold"]]["verdict"]


def _assert_rows_match_the_api(rows: list[dict], response: httpx.Response) -> None:
    if response.status_code != 200:
        (row,) = rows
        assert (row["status"], row["error"]) == (response.status_code, response.json()["detail"])
        assert row["faces"] == 0 and row["face"] is None
        return
    served = response.json()
    assert {r["status"] for r in rows} == {OK} and {r["faces"] for r in rows} == {len(served["faces"])}
    assert {(r["width"], r["height"]) for r in rows} == {
        (served["image"]["width"], served["image"]["height"])
    }
    assert {(r["model_name"], r["model_version"]) for r in rows} == {tuple(served["model"].values())}
    assert {r["truncated"] for r in rows} == {served["truncated"]}
    if not served["faces"]:
        (row,) = rows
        assert row["face"] is None
        return
    assert [r["face"] for r in rows] == list(range(len(served["faces"])))
    for row, face in zip(rows, served["faces"], strict=True):
        _assert_same_face(row, face)


@pytest.mark.slow
def test_a_two_node_cluster_gives_the_api_answer_for_every_file(
    cluster: RayCluster, client: httpx.Client, service_config: Path, tmp_path: Path
) -> None:
    config = tmp_path / "bulk.cfg"
    config.write_text(service_config.read_text() + "\n" + BULK)  # the API under test: the same settings
    chips = _chips(CHIPS)
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    listed = tmp_path / "sources.txt"
    blank = tmp_path / "blank.png"  # a readable photo without a face: one row, faces = 0
    Image.new("RGB", (320, 240), (128, 128, 128)).save(blank)
    listed.write_text("\n".join(str(p) for p in [*chips, blank, *_hostile(hostile)]) + "\n")
    out, driver_tmp = tmp_path / "out", tmp_path / "driver-tmp"
    driver_tmp.mkdir()

    result = _annotate(cluster, config, out, str(PHOTOS), str(listed), tmpdir=driver_tmp)

    sources = list_sources([str(PHOTOS), str(listed)])
    assert len(sources) == 19 + CHIPS + 6 and f"annotated {len(sources)} of {len(sources)}" in result.stdout
    table = pq.read_table(out)
    by_source = _by_source(table)
    assert set(by_source) == set(sources)
    for source in sources:
        _assert_rows_match_the_api(by_source[source], _post(client, Path(source)))
    statuses = {Path(s).name: rows[0]["status"] for s, rows in by_source.items() if rows[0]["status"] != OK}
    assert statuses == {
        "bomb.png": 413,
        "truncated.jpg": 400,
        "drawing.svg": 415,
        "notes-named-like-a-photo.jpg": 415,
        "empty.jpg": 415,
    }
    (blank_row,) = by_source[str(blank)]
    assert (blank_row["status"], blank_row["faces"], blank_row["face"]) == (OK, 0, None)
    assert sum(1 for rows in by_source.values() for r in rows if r["face"] is not None) > CHIPS
    assert all(p.suffix == ".parquet" for p in out.rglob("*") if p.is_file())
    assert not any(driver_tmp.iterdir()), "the driver wrote temporary files"

    # --resume: nothing left to do, then only the one new photo.
    again = _annotate(cluster, config, out, str(PHOTOS), str(listed), tmpdir=driver_tmp, resume=True)
    assert f"annotated 0 of {len(sources)}" in again.stdout
    extra = sorted(UTKFACE.iterdir())[1]
    assert str(extra) not in sources
    more = _annotate(
        cluster, config, out, str(PHOTOS), str(listed), str(extra), tmpdir=driver_tmp, resume=True
    )
    assert f"annotated 1 of {len(sources) + 1}" in more.stdout
    assert sorted(_by_source(pq.read_table(out))) == sorted([*sources, str(extra)])


def _chips(count: int, offset: int = 0) -> list[Path]:
    """`count` UTKFace chips spread over the folder (`offset` picks another spread)."""
    return sorted(UTKFACE.iterdir())[offset :: len(os.listdir(UTKFACE)) // count][:count]


def _kill_when_parts_appear(args: list[str], env: dict[str, str], out: Path, parts: int) -> int:
    """Start the run, SIGKILL its whole process group once `parts` Parquet parts are on disk; the
    number of parts there at the kill."""
    run = subprocess.Popen(
        args, cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 300
        while len(list(out.glob("*.parquet"))) < parts:
            assert run.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "no Parquet part appeared"
            time.sleep(0.05)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
    return len(list(out.glob("*.parquet")))


def _parted_run(
    service_config: Path, tmp_path: Path, chips: list[Path]
) -> tuple[Path, list[Path], Path, Path, Path]:
    """A run of `chips` listed in a file, in parts of at most 20 sources: its config, the chips, the list,
    OUT and the driver's temporary folder."""
    config = tmp_path / "bulk.cfg"
    config.write_text(service_config.read_text() + "\n" + BULK + "file_sources = 20\n")
    listed = tmp_path / "sources.txt"
    listed.write_text("\n".join(str(p) for p in chips) + "\n")
    out, driver_tmp = tmp_path / "out", tmp_path / "driver-tmp"
    driver_tmp.mkdir()
    return config, chips, listed, out, driver_tmp


@pytest.mark.slow
def test_a_killed_run_keeps_its_parts_and_resume_does_every_source_exactly_once(
    cluster: RayCluster, client: httpx.Client, service_config: Path, tmp_path: Path
) -> None:
    """Parts of at most 20 sources reach OUT as the run goes; SIGKILL to the driver's process group after
    the second part, then --resume: every source once, with the API's answer."""
    config, chips, listed, out, driver_tmp = _parted_run(service_config, tmp_path, _chips(120, offset=3))
    args, env = _command(cluster, config, out, str(listed), tmpdir=driver_tmp)

    kept = _kill_when_parts_appear(args, env, out, parts=2)
    on_disk = {s for f in out.glob("*.parquet") for s in pq.read_table(f).column("source").to_pylist()}
    assert kept >= 2 and 0 < len(on_disk) < len(chips)  # whole parts only, and work left to do

    result = _annotate(cluster, config, out, str(listed), tmpdir=driver_tmp, resume=True)
    assert f"of {len(chips)} sources" in result.stdout and f"{len(chips)} sources on disk" in result.stdout
    assert f"({len(on_disk)} already there)" in result.stdout
    sources_per_file = [pq.read_table(f).column("source").to_pylist() for f in out.glob("*.parquet")]
    assert all(len(set(s)) <= 20 + BATCH_PHOTOS for s in sources_per_file)  # a part closes at a batch's end
    seen = [source for sources in sources_per_file for source in set(sources)]
    assert sorted(seen) == sorted(map(str, chips))  # every source in exactly one part
    assert not [p for p in out.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    by_source = _by_source(pq.read_table(out))
    for source in chips[::6]:
        _assert_rows_match_the_api(by_source[str(source)], _post(client, source))


def _newest_raylet(cluster: RayCluster) -> int:
    """The raylet of the node that joined last (the second node of a two-node cluster)."""
    raylets = []
    for pid in cluster.processes():
        try:
            program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            started = Path(f"/proc/{pid}").stat().st_mtime
        except OSError:
            continue
        if program.endswith(b"/raylet"):
            raylets.append((started, pid))
    assert len(raylets) == 2, raylets
    return max(raylets)[1]


@pytest.mark.slow
def test_a_node_lost_mid_run_leaves_every_source_exactly_once(
    service_config: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """SIGKILL to the second node's raylet once the first part is on disk: Ray restarts the lost actor's
    work on the node left, and the run finishes with every source in exactly one part (or, had it failed,
    --resume on the node left would finish it)."""
    config, chips, listed, out, driver_tmp = _parted_run(service_config, tmp_path, _chips(80, offset=7))
    ray_cluster = RayCluster(tmp_path_factory.mktemp("rayk"), nodes=2, cpus=1)
    try:
        ray_cluster.start()
        args, env = _command(ray_cluster, config, out, str(listed), tmpdir=driver_tmp)
        run = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 300
        while not list(out.glob("*.parquet")) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.poll() is None, "the run ended before a part was on disk"
        os.kill(_newest_raylet(ray_cluster), signal.SIGKILL)
        _, stderr = run.communicate(timeout=600)
        if run.returncode != 0:  # a failed run must leave what --resume finishes, on the node left
            resumed = [*args, "--resume", "--actors", "1"]
            subprocess.run(
                resumed, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=True
            )
    finally:
        ray_cluster.stop()
    assert not ray_cluster.processes(), "Ray processes outlived the test"
    sources = [
        s for part in out.glob("*.parquet") for s in set(pq.read_table(part).column("source").to_pylist())
    ]
    assert sorted(sources) == sorted(map(str, chips)), stderr[-3000:]


@pytest.mark.slow
def test_ray_client_address_drives_the_run_from_a_task_on_the_cluster(
    client: httpx.Client, service_config: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`--address ray://HOST:PORT`: Ray Data cannot drive from a Ray Client, so a task on the cluster
    does; the rows are still the API's. The connection is retried when the head's client proxy aborts it
    (bulk.run.connect)."""
    config = tmp_path / "bulk.cfg"
    config.write_text(service_config.read_text() + "\n" + BULK)
    sources = [str(DLIB / "2008_002506.jpg"), *(str(p) for p in sorted(UTKFACE.iterdir())[::2000][:8])]
    listed = tmp_path / "sources.txt"
    listed.write_text("\n".join(sources) + "\n")
    # A short temp dir: Ray's socket paths inside it must stay under the 107-byte limit.
    ray_cluster = RayCluster(tmp_path_factory.mktemp("rayc"), nodes=2, cpus=1, client=True)
    driver_tmp = tmp_path / "driver-tmp"
    driver_tmp.mkdir()
    try:
        ray_cluster.start()
        result = _annotate(
            ray_cluster,
            config,
            tmp_path / "out",
            str(listed),
            tmpdir=driver_tmp,
            address=ray_cluster.client_address,
        )
    finally:
        ray_cluster.stop()
    assert not ray_cluster.processes(), "Ray processes outlived the test"
    assert f"annotated {len(sources)} of {len(sources)}" in result.stdout
    by_source = _by_source(pq.read_table(tmp_path / "out"))
    assert sorted(by_source) == sorted(sources)
    for source in sources:
        _assert_rows_match_the_api(by_source[source], _post(client, Path(source)))


def test_sources_from_folders_globs_and_lists_each_once(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/one.jpg", "a/b/two.PNG", "a/b/notes.txt", "a/.hidden.jpg", "a/b/three.svg"):
        (tmp_path / name).write_bytes(b"x")
    listed = tmp_path / "list.txt"
    listed.write_text(f"# photos\n{tmp_path / 'a/one.jpg'}\n\n{tmp_path / 'a/b/notes.txt'}\n")
    found = list_sources([str(tmp_path / "a"), str(tmp_path / "a/*.jpg"), str(listed)])
    names = [str(Path(p).relative_to(tmp_path)) for p in found]
    assert names == ["a/one.jpg", "a/b/three.svg", "a/b/two.PNG", "a/b/notes.txt"]
    with pytest.raises(FileNotFoundError):
        list_sources([str(tmp_path / "missing")])


def test_a_file_over_the_upload_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    photo = tmp_path / "big.jpg"
    photo.write_bytes((DLIB / "2008_002506.jpg").read_bytes())
    row = photo_row(str(photo), 1024, 40_000_000, 0)
    assert (row["status"], row["error"]) == (413, "The file is larger than the limit of 1,024 bytes.")
    missing = photo_row(str(tmp_path / "gone.jpg"), 1 << 20, 40_000_000, 0)
    assert (missing["status"], missing["error"]) == (400, "The file could not be read (FileNotFoundError).")


def test_an_out_folder_with_results_needs_resume(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    table = pa.table({"source": [str(DLIB / "dogs.jpg")]})
    pq.write_table(table, out / "part.parquet")
    with pytest.raises(BulkError, match="--resume"):
        plan([str(DLIB)], str(out), resume=False)
    todo, skipped = plan([str(DLIB)], str(out), resume=True)
    assert skipped == 1 and str(DLIB / "dogs.jpg") not in todo and len(todo) == 11


def test_an_actor_running_batches_in_threads_gives_the_rows_of_one_at_a_time(no_age_env: None) -> None:
    """`bulk.calls_per_actor` > 1 runs an actor's batches at once in threads; its rows must not change."""
    settings = Settings.load()
    chips = sorted(str(p) for p in UTKFACE.glob("*.jpg"))[:24]
    photos = [str(DLIB / "2008_002506.jpg"), str(DLIB / "dogs.jpg")]
    limits = (settings.max_upload_bytes, settings.max_image_pixels, settings.decode_min_side)
    decoded = decode_batch(pa.table({"source": chips + photos}), *limits)
    batches = [decoded.slice(start, 6) for start in range(0, decoded.num_rows, 6)]
    annotator = Annotator(settings, (18,))
    one_at_a_time = [annotator(batch).to_pylist() for batch in batches]
    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(lambda batch: annotator(batch).to_pylist(), batches)) == one_at_a_time
    threaded, single = actor_pool(2, 2), actor_pool(2, 1)
    assert threaded.max_concurrent_calls_per_actor == 2 and threaded.enable_true_multi_threading
    assert not single.enable_true_multi_threading


def test_an_actor_keeps_openvino_telemetry_out(tmp_path: Path) -> None:
    """`import openvino` would fork the actor to post a usage event and write ~/intel/; the actor stops it."""
    code = (
        "import sys; from inference_service.bulk.run import Annotator;"
        "from inference_service.settings import Settings; Annotator(Settings.load(), (18,));"
        "assert sys.modules['openvino_telemetry'] is None and 'openvino' in sys.modules"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGE_")}
    env.update({"HOME": str(tmp_path), "PYTHONPATH": str(REPO), "AGE_AGE_MODEL__ENGINE": "openvino-bf16"})
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, timeout=120)
    assert not (tmp_path / "intel").exists()


def test_a_ray_client_connection_the_proxy_aborts_is_tried_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The head's client proxy aborts while its per-client server starts: bounded tries, a growing wait,
    a log line each; then a clear error."""
    from inference_service.bulk import run

    failures = iter([True, True, False])
    waits: list[float] = []

    def init(**kwargs: object) -> None:
        if next(failures):
            raise ConnectionAbortedError("Initialization failure from server:\nproxy not ready")

    monkeypatch.setattr(run.ray, "init", init)
    monkeypatch.setattr(run.ray, "shutdown", lambda: None)
    monkeypatch.setattr(run.time, "sleep", waits.append)
    with caplog.at_level("WARNING", logger="inference_service.bulk.run"):
        assert run.connect("ray://127.0.0.1:1", 1) is True
    assert waits == [1.0, 2.0] and caplog.text.count("aborted the connection (proxy not ready)") == 2

    failures = iter([True] * run.CLIENT_ATTEMPTS)
    with pytest.raises(BulkError, match=f"refused {run.CLIENT_ATTEMPTS} connections"):
        run.connect("ray://127.0.0.1:1", 1)


def test_a_video_gives_a_row_per_track_and_with_per_frame_a_row_per_face_per_frame(
    tmp_path: Path, no_age_env: None, client: httpx.Client, service_config: Path
) -> None:
    """An actor samples a video as POST /predict/video does and writes its answer as rows; a broken video is
    the API's error row."""
    from .video.clips import encode, enter_and_leave

    settings = Settings.load(service_config)  # the API under test: the same settings
    frames, _ = enter_and_leave(Image.open(PHOTOS / "pexels" / "pexels-andrea-piacquadio-774909.jpg"))
    clip = encode(frames)
    (tmp_path / "clip.mp4").write_bytes(clip)
    (tmp_path / "cut.mp4").write_bytes(clip[: len(clip) // 2])
    sources = list_sources([str(tmp_path)])
    assert [Path(s).name for s in sources] == ["clip.mp4", "cut.mp4"]
    limits = (settings.max_upload_bytes, settings.max_image_pixels, settings.decode_min_side)
    rows = Annotator(settings, (18,), per_frame=True)(decode_batch(pa.table({"source": sources}), *limits))
    by_source = _by_source(rows)
    track_row, *frame_rows = by_source[sources[0]]
    (track,) = _post_video(client, clip)["tracks"]
    assert (track_row["track"], track_row["track_frames"], track_row["faces"]) == (1, track["frames"], 1)
    assert (track_row["first_s"], track_row["last_s"], track_row["best_s"]) == (
        track["first_s"],
        track["last_s"],
        track["best_s"],
    )
    assert track_row["face"] is None and track_row["age"] == pytest.approx(track["age"], abs=0.11)
    assert [r["time_s"] for r in frame_rows] == [track["first_s"] + 0.5 * i for i in range(track["frames"])]
    assert {(r["track"], r["face"]) for r in frame_rows} == {(1, 0)}
    (cut,) = by_source[sources[1]]
    assert (cut["status"], cut["error"]) == (400, "The video data is broken or cut short.")


def _post_video(client: httpx.Client, data: bytes) -> dict:
    response = client.post("/predict/video", files={"file": ("clip.mp4", data, "video/mp4")})
    assert response.status_code == 200, response.text
    return response.json()


def test_age_checks_are_checked_against_the_shipped_model_an_ensemble_file(no_age_env: None) -> None:
    """The shipped model is an ensemble file, not a checkpoint: its age range bounds --thresholds."""
    from inference_service.bulk.run import _thresholds

    settings = Settings.load()
    assert str(settings.age_model.path).endswith(".json")
    assert _thresholds(settings, [21, 18, 18]) == (18, 21)
    with pytest.raises(BulkError, match="outside the model's age range"):
        _thresholds(settings, [150])
