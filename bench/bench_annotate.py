"""Benchmark bulk annotation against the bare age network and the service, in one run on one machine.

`make bench-annotate` (or `python bench/bench_annotate.py [--chips 2000] [--actors 1,2]`) annotates
`--chips` UTKFace chips (spread over ../shared/data/utkface) plus the photos of ../shared/data/photos
with `python -m inference_service.annotate` (an embedded Ray, as a user runs it) once per actor count,
then measures, from the same config:
  the age network alone (bench/benchmark.py's age_network_rate: same engine, flip, batch size);
  the service's crowd throughput (bald_guys.jpg, 4 clients, POST /predict over loopback).
Reported: faces/s of each annotation run over Ray Data's execution time (actor start-up and model
loading included; Ray's own start-up not) and end to end; the steady rate, once the actors are up:
the faces a run of all the chips has beyond a run of the first quarter, over the execution time it
took beyond it, so that fixed start-up costs cancel out as they are absent from the bare network's
figure; each rate's ratio to the bare network (the issue's target: 0.9 or more), peak resident
memory (VmHWM) of each actor, the share of the steady state's CPU time each part of the run took
(actors, driver, decoding and writing workers, Ray's own processes), and the CPU model and kind.
Each actor gets an equal share of the CPUs that decoding and writing leave (AGE_BULK__ACTOR_CPUS)
and CPUs / actors threads for each model (`--threads` changes it); `--calls-per-actor` overrides
the config's bulk.calls_per_actor. Nothing is timed in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import benchmark as bench  # the service runner, the HTTP client and the bare network's rate
from processes import cpu_seconds, free_port, memory_mb

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
DECODE_CPUS = 0.2
EXECUTION = re.compile(r"execution finished in ([0-9.]+) seconds")


def role(title: bytes) -> str | None:
    """Which part of an annotation run a process is, from its command line (None: not Ray's)."""
    if b"inference_service.annotate" in title:
        return "driver"
    if b"ray::" in title and b"Annotator" in title:
        return "actors"
    if any(k in title for k in (b"ray::IDLE", b"decode_batch", b"ray::Write")):
        return "decoding and writing workers"
    return "Ray's own processes" if b"ray" in title else None


class RayProcesses(threading.Thread):
    """Polls the run's processes every 0.5 s: the peak memory (VmHWM) of the actors holding the models
    (process title `...MapBatches(Annotator)...`) and the CPU seconds of each role (`role`), as last seen
    before each process exited (so up to 0.5 s of a process's last CPU time is missed)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb: dict[int, float] = {}
        self.cpu_s: dict[int, tuple[str, float]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    kind = role((entry / "cmdline").read_bytes())
                    seconds = cpu_seconds(entry.name) if kind else float("nan")
                    if seconds != seconds:  # not the run's, or gone (NaN)
                        continue
                    pid = int(entry.name)
                    self.cpu_s[pid] = (kind, seconds)
                    if kind == "actors":
                        self.peak_mb[pid] = max(self.peak_mb.get(pid, 0.0), memory_mb(pid, "VmHWM"))
                except OSError:  # it exited between two reads
                    continue

    def cpu_by_role(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for kind, seconds in self.cpu_s.values():
            totals[kind] = totals.get(kind, 0.0) + seconds
        return {kind: round(seconds, 1) for kind, seconds in totals.items()}


def sources(folder: Path, chips: int) -> tuple[Path, Path]:
    """Two list files: `chips` UTKFace chips spread over the folder, and the first quarter of them."""
    names = sorted(os.listdir(SHARED / "utkface"))
    step = max(1, len(names) // chips)
    chosen = [f"{SHARED / 'utkface' / name}\n" for name in names[::step][:chips]]
    listed, quarter = folder / "sources.txt", folder / "quarter.txt"
    listed.write_text("".join(chosen))
    quarter.write_text("".join(chosen[: max(1, len(chosen) // 4)]))
    return listed, quarter


def steady(run: dict, quarter: dict) -> dict:
    """The full run's rate beyond its quarter-size twin: actor start-up and model loading cancel. So do
    they in the CPU seconds each role spent beyond the quarter run (its share of them)."""
    extra_s = run["execution_s"] - quarter["execution_s"]
    extra = run["faces"] - quarter["faces"]
    rate = round(extra / extra_s, 1) if extra_s > 0 else None
    beyond = {k: max(0.0, v - quarter["cpu_s"].get(k, 0.0)) for k, v in run["cpu_s"].items()}
    total = sum(beyond.values()) or 1.0
    shares = {k: round(v / total, 2) for k, v in sorted(beyond.items(), key=lambda kv: -kv[1])}
    return {**run, "steady_faces_per_s": rate, "steady_cpu_share": shares, "quarter": quarter}


def annotate_run(config: Path, listed: Path, out: Path, actors: int, knobs: dict[str, int]) -> dict:
    """One `python -m inference_service.annotate` run: faces/s, wall time and actor memory."""
    cpus = os.cpu_count() or 1
    share = round((cpus - DECODE_CPUS) / actors, 2)
    threads = knobs.get("threads") or max(1, cpus // actors)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGE_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "AGE_BULK__ACTOR_CPUS": str(share),
            "AGE_BULK__DECODE_CPUS": str(DECODE_CPUS),
            "AGE_BULK__THREADS": str(threads),
            "AGE_BULK__CALLS_PER_ACTOR": str(knobs["calls"]),
        }
    )
    command = [sys.executable, "-m", "inference_service.annotate", str(listed), str(SHARED / "photos")]
    command += ["--out", str(out), "--actors", str(actors), "--config", str(config), "--no-progress"]
    processes = RayProcesses()
    processes.start()
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    processes.done.set()
    processes.join()
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr[-4000:])
        raise RuntimeError(f"annotate with {actors} actor(s) failed ({result.returncode})")
    import pyarrow.parquet as pq

    table = pq.read_table(out, columns=["source", "face"])
    faces = sum(1 for face in table.column("face").to_pylist() if face is not None)
    found = EXECUTION.findall(result.stderr)
    executed = float(found[-1]) if found else wall
    return {
        "actors": actors,
        "actor_cpus": share,
        "threads": threads,
        "calls_per_actor": knobs["calls"],
        "photos": len(set(table.column("source").to_pylist())),
        "faces": faces,
        "execution_s": round(executed, 1),
        "wall_s": round(wall, 1),
        "faces_per_s": round(faces / executed, 1),
        "faces_per_s_end_to_end": round(faces / wall, 1),
        "actor_peak_rss_mb": sorted(round(v) for v in processes.peak_mb.values()),
        "cpu_s": processes.cpu_by_role(),
    }


def configured_calls(config: Path) -> int:
    """`bulk.calls_per_actor` of the config, so the result says what ran."""
    sys.path.insert(0, str(ROOT))
    from inference_service.settings import Settings

    return Settings.load(config).bulk.calls_per_actor


def annotate_runs(config: Path, chips: int, counts: list[int], knobs: dict[str, int]) -> list[dict]:
    """Per actor count, a run of the first quarter of the chips, then of all, and the steady rate."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-annotate-") as folder:
        listed, quarter = sources(Path(folder), chips)
        for actors in counts:
            small = annotate_run(config, quarter, Path(folder) / f"quarter-{actors}", actors, knobs)
            run = steady(annotate_run(config, listed, Path(folder) / f"out-{actors}", actors, knobs), small)
            print(json.dumps(run), flush=True)
            runs.append(run)
    return runs


def service_crowd_rate(config: Path, requests: int) -> float:
    """The service's crowd throughput, 4 clients, as `make bench` measures it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGE_")} | {"PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "inference_service", "--config", str(config), "--port", str(port)]
    with bench.running(command, port, env, timeout=300):
        return bench.throughput(port, SHARED / "photos" / bench.PHOTOS["crowd"], 4, max(1, requests // 4), 3)


def _ratio(rate: float | None, bare: float) -> str:
    return f"{rate / bare:.2f}" if rate and bare else "-"


def report(result: dict) -> str:
    bare = result["age_network_faces_per_s"]
    lines = [
        f"CPU: {result['machine'].get('cpu_model', '?')} (kind {result['machine'].get('cpu_kind', '?')}), "
        f"{result['machine'].get('cores', '?')} CPUs; engine {result['engine']}",
        "",
        "| run | photos | faces | faces/s (execution) | of the bare network | faces/s (steady) | "
        "of the bare network | faces/s (end to end) | actor peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in result["runs"]:
        rate, rate_steady = run["faces_per_s"], run.get("steady_faces_per_s")
        lines.append(
            f"| annotate, {run['actors']} actor(s) x {run['actor_cpus']} CPU, {run['calls_per_actor']} "
            f"call(s) x {run['threads']} thread(s) | {run['photos']} | "
            f"{run['faces']} | {rate} | {_ratio(rate, bare)} | {rate_steady or '-'} | "
            f"{_ratio(rate_steady, bare)} | {run['faces_per_s_end_to_end']} | "
            f"{', '.join(map(str, run['actor_peak_rss_mb'])) or '-'} |"
        )
    lines.append(f"| age network alone (same config) | - | - | {bare} | 1.00 | - | - | - | - |")
    crowd = result.get("service_crowd_faces_per_s")
    if crowd is not None:
        lines.append(
            f"| service, crowd photo, 4 clients | - | - | {crowd} | {_ratio(crowd, bare)} | - | - | - | - |"
        )
    lines += ["", "Steady state, share of the CPU time each part of the run took:"]
    for run in result["runs"]:
        shares = ", ".join(f"{k} {v:.2f}" for k, v in run.get("steady_cpu_share", {}).items())
        lines.append(f"- {run['actors']} actor(s): {shares}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chips", type=int, default=2000, help="UTKFace chips to annotate (plus the photos)")
    parser.add_argument("--actors", default="1,2", help="actor counts to run, e.g. 1,2")
    parser.add_argument("--config", default=str(ROOT / "service.cfg"))
    parser.add_argument("--service-requests", type=int, default=16, help="crowd requests per repetition")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--rounds", type=int, default=20, help="batches through the bare network")
    parser.add_argument("--calls-per-actor", type=int, help="batches an actor runs at once (default: config)")
    parser.add_argument("--threads", type=int, help="each actor's model threads (default: CPUs / actors)")
    parser.add_argument("--save", help="also write the JSON result here")
    args = parser.parse_args(argv)
    config = Path(args.config).resolve()
    machine = bench.machine("cpu")
    result: dict = {"machine": machine, "chips": args.chips, "runs": []}
    counts = [int(n) for n in args.actors.split(",")]
    knobs = {"calls": args.calls_per_actor or configured_calls(config), "threads": args.threads or 0}
    result["runs"] = annotate_runs(config, args.chips, counts, knobs)
    result["age_network_faces_per_s"], result["engine"] = bench.age_network_rate(config, args.rounds)
    if not args.skip_service:
        result["service_crowd_faces_per_s"] = service_crowd_rate(config, args.service_requests)
    print(report(result))
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
