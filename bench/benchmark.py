"""Benchmark the real service over HTTP against a naive pipeline, side by side in one run.

`make bench` (or `python bench/benchmark.py [--device cpu|cuda]`) starts the service
(`python -m inference_service`) on a free loopback port, measures it, stops it,
then does the same for a naive reference server kept in this file: detection on
the full-resolution image, then one face at a time through the ResNet-50 at batch
size 1, fp32, eager torch. Both are measured by the same HTTP client code, so the
speed-up is a ratio taken on one machine in one run, not an absolute time.

Measured, medians over `--repeats` repetitions (each after a warm-up):
  latency p50/p95 of POST /predict for a portrait, a group and a crowd photo (one client);
  throughput in faces per second on the crowd photo with 1, 4 and 16 concurrent clients;
  peak resident memory (VmHWM) of each server process;
  the age network alone, in faces per second, built from the same config as the service (same
  engine, flip and batch size) after the service has stopped; the crowd rate with 4 clients over
  it is the service efficiency (how little the service adds beyond the network);
  the service's own stage timings (decode, queue, detect, align, age), medians per photo.
Writes bench/results/latest.json and latest.md (not committed) and the committed per-kind file
bench/results/cpu-<kind>.md (or gpu.md), and prints the Markdown table.

The photos come from ../shared/data/photos (beside the clone); see --photos.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import File, UploadFile  # module level: the baseline's annotations resolve here
from processes import HOST, free_port, memory_mb, stop_gracefully

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = ROOT.parent / "shared" / "data" / "photos"
PHOTOS = {
    "portrait": "pexels/pexels-andrea-piacquadio-774909.jpg",
    "group": "pexels/pexels-andrea-piacquadio-2672979.jpg",
    "crowd": "dlib_examples/bald_guys.jpg",
}
CLIENTS = (1, 4, 16)


# --------------------------------------------------------------------------- the naive reference


def serve_baseline(port: int, device: str, checkpoint: str) -> None:
    """The reference: full-resolution detection, batch-1 fp32 eager torch, one face at a time.

    The same detector graph, checkpoint, alignment and flip averaging as the service,
    and the same web stack (FastAPI on uvicorn), so only the pipeline differs.
    """
    import numpy as np
    import torch
    import uvicorn
    from fastapi import FastAPI

    sys.path.insert(0, str(ROOT))
    from inference_service.vision.align import align_face
    from inference_service.vision.checkpoint import load_checkpoint
    from inference_service.vision.decode import decode_image
    from inference_service.vision.detector import RetinaFaceDetector
    from inference_service.vision.devices import resolve_device
    from inference_service.vision.model_config import decode_output, preprocess
    from inference_service.vision.options import DetectorOptions

    torch_device = resolve_device(device)
    model, metadata = load_checkpoint(checkpoint, torch_device)  # fp32, contiguous, eager
    cfg = metadata.model
    detector = RetinaFaceDetector(DetectorOptions(max_side=8192))  # never shrinks the bench's photos
    lock = threading.Lock()  # one image at a time, like the service's single inference thread

    def age_of(crop: np.ndarray) -> tuple[float, list[float] | None]:
        inputs = torch.from_numpy(preprocess(crop[None], cfg)).to(torch_device)
        with torch.no_grad():
            logits = (model(inputs) + model(torch.flip(inputs, dims=[3]))) / 2
        out = decode_output(logits.cpu().numpy(), cfg)
        interval = None if out.interval is None else [float(v) for v in out.interval[0]]
        return float(out.age[0]), interval

    app = FastAPI()

    @app.get("/ready")
    def ready() -> dict:
        return {"status": "ready", "device": str(torch_device)}

    @app.post("/predict")
    def predict(file: UploadFile = File(...)) -> dict:  # noqa: B008 - FastAPI's idiom
        data = file.file.read()
        with lock:
            image = decode_image(data).pixels
            faces = []
            for det in detector.detect(image):
                crop = align_face(image, det.landmarks, cfg.template, cfg.input_size)
                age, interval = age_of(crop)
                faces.append({"box": [float(v) for v in det.box], "age": age, "age_interval": interval})
        return {"faces": faces}

    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


# --------------------------------------------------------------------------- servers


def write_service_config(path: Path, extra_file: str | None, settings: str) -> Path:
    """The service config a measurement runs: `settings` (TOML lines) first in the [service] table,
    then whatever the user's --config file adds (which therefore must not set the same keys: a
    `[service.age_model]` table there clashes with the `age_model.path` set here)."""
    extra = Path(extra_file).read_text() if extra_file else "[service]\n"
    if "[service]" not in extra:
        extra = "[service]\n" + extra
    path.write_text(extra.replace("[service]", "[service]\n" + settings, 1))
    return path


def wait_ready(port: int, process: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before it was ready")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/ready")
            response = conn.getresponse()
            body = response.read()
            conn.close()
            if response.status == 200:
                return json.loads(body)
        time.sleep(0.5)
    raise RuntimeError(f"the server on port {port} was not ready within {timeout:.0f} s")


@contextlib.contextmanager
def running(command: list[str], port: int, env: dict[str, str], timeout: float) -> Iterator[tuple[int, dict]]:
    """Start a server, wait for /ready, yield (pid, ready body); always stop it."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            try:
                ready = wait_ready(port, process, timeout)
            except RuntimeError:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace")[-4000:])
                raise
            yield process.pid, ready
        finally:
            stop_gracefully(process)


# --------------------------------------------------------------------------- client


def multipart(path: Path) -> tuple[bytes, str]:
    """The request body for one file, encoded once so the client costs little per request."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), boundary


class Client:
    """One keep-alive HTTP connection posting one prepared body."""

    def __init__(self, port: int, body: bytes, boundary: str):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=600)
        self.body = body
        self.headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}

    def post(self) -> tuple[float, int, dict[str, float]]:
        """Seconds for one POST /predict, the number of faces and the service's own stage timings."""
        started = time.perf_counter()
        try:
            response = self._send()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed a keep-alive connection that sat idle past its timeout
            # (a client that finished its round early): reconnect and send again.
            self.conn.close()
            started = time.perf_counter()
            response = self._send()
        data = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"POST /predict answered {response.status}: {data[:300]!r}")
        body = json.loads(data)
        return elapsed, len(body["faces"]), body.get("timings_ms", {})

    def _send(self) -> http.client.HTTPResponse:
        self.conn.request("POST", "/predict", body=self.body, headers=self.headers)
        return self.conn.getresponse()

    def close(self) -> None:
        self.conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency(port: int, photo: Path, requests: int, repeats: int, warmup: int) -> dict:
    """Median over repetitions of p50 and p95 (ms), one client, sequential requests; and the
    median of each stage the service timed itself (decode, queue, detect, align, age)."""
    client = Client(port, *multipart(photo))
    faces = 0
    for _ in range(warmup):
        _, faces, _ = client.post()
    p50s, p95s, stages = [], [], defaultdict(list)
    for _ in range(repeats):
        answers = [client.post() for _ in range(requests)]
        times = [elapsed * 1000 for elapsed, _, _ in answers]
        p50s.append(percentile(times, 50))
        p95s.append(percentile(times, 95))
        for _, _, timings in answers:
            for stage, ms in timings.items():
                if stage != "total":
                    stages[stage].append(ms)
    client.close()
    return {
        "p50_ms": round(statistics.median(p50s), 1),
        "p95_ms": round(statistics.median(p95s), 1),
        "faces": faces,
        "stages_ms": {stage: round(statistics.median(ms), 1) for stage, ms in stages.items()},
    }


def throughput(port: int, photo: Path, clients: int, per_client: int, repeats: int) -> float:
    """Median over repetitions of faces answered per second with `clients` concurrent clients."""
    body, boundary = multipart(photo)
    pool = [Client(port, body, boundary) for _ in range(clients)]
    pool[0].post()  # warm-up
    rates = [_timed_round(pool, per_client) for _ in range(repeats)]
    for client in pool:
        client.close()
    return round(statistics.median(rates), 1)


def _timed_round(pool: list[Client], per_client: int) -> float:
    """All clients start together, each posts `per_client` times; faces per second overall."""
    counts = [0] * len(pool)
    errors: list[BaseException] = []
    start = threading.Barrier(len(pool) + 1)

    def work(index: int) -> None:
        start.wait()
        try:
            for _ in range(per_client):
                counts[index] += pool[index].post()[1]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(pool))]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"a client failed: {errors[0]}")
    return sum(counts) / elapsed


def measure(port: int, pid: int, photos: dict[str, Path], plan: dict) -> dict:
    result: dict = {}
    for name, path in photos.items():
        requests = plan["crowd_requests"] if name == "crowd" else plan["requests"]
        result[name] = latency(port, path, requests, plan["repeats"], plan["warmup"])
        print(f"    {name}: {result[name]}", flush=True)
    result["crowd_faces_per_s"] = {}
    for clients in CLIENTS:
        per_client = max(1, plan["throughput_requests"] // clients)
        rate = throughput(port, photos["crowd"], clients, per_client, plan["repeats"])
        result["crowd_faces_per_s"][str(clients)] = rate
        print(f"    crowd, {clients} clients: {rate} faces/s", flush=True)
    result["peak_rss_mb"] = memory_mb(pid, "VmHWM")
    return result


# --------------------------------------------------------------------------- age network alone


def age_network_rate(config: Path, rounds: int) -> tuple[float, str]:
    """Faces per second through the age network alone, built by the service's own factory from
    the same config (engine, flip, batch size, threads), in this process; and the engine it ran."""
    sys.path.insert(0, str(ROOT))
    from inference_service.settings import Settings
    from inference_service.vision.pipeline import build_estimator

    settings = Settings.load(config)
    estimator = build_estimator(settings.age_model, settings.device)
    return _rate(estimator, settings.age_model.batch_size, rounds), estimator.engine


def baseline_network_rate(device: str, checkpoint: str, rounds: int) -> float:
    """The naive pipeline's network: plain torch fp32, one face at a time, flip on."""
    sys.path.insert(0, str(ROOT))
    from inference_service.vision.estimator import AgeEstimator

    estimator = AgeEstimator.from_checkpoint(
        checkpoint, device=device, flip=True, batch_size=1, engine="torch"
    )
    return _rate(estimator, 1, rounds)


def _rate(estimator: Any, batch: int, rounds: int) -> float:
    import numpy as np

    size = estimator.model_config.input_size
    crops = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    estimator.predict_crops(crops)
    estimator.predict_crops(crops)
    started = time.perf_counter()
    for _ in range(rounds):
        estimator.predict_crops(crops)
    return round(batch * rounds / (time.perf_counter() - started), 1)


# --------------------------------------------------------------------------- report


def machine(device: str) -> dict:
    """Cores, the CPU's model, kind and the flags that decide engine speed, and the GPU when used."""
    from inference_service.vision.devices import cpu_info

    cpu = cpu_info().describe()
    info = {
        "cores": os.cpu_count(),
        "cpu_model": cpu["model"],
        "cpu_kind": cpu["kind"],
        "cpu_flags": cpu["flags"],
        "platform": platform.platform(),
    }
    if device.startswith("cuda"):
        import torch

        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def table(report: dict) -> str:
    service, baseline = report["service"], report["baseline"]

    def row(label: str, ours: object, naive: object) -> str:
        return f"| {label} | {ours} | {naive} |"

    lines = [
        f"Device: **{report['device']}**; machine: {report['machine']['cores']} cores, "
        f"{report['machine']['cpu_model']}, CPU kind **{report['machine']['cpu_kind']}** "
        f"(flags: {' '.join(report['machine']['cpu_flags'])})"
        + (f", {report['machine']['gpu']}" if "gpu" in report["machine"] else ""),
        "",
        "| Measure (median of repetitions) | Service | Naive pipeline |",
        "|---|---:|---:|",
    ]
    for name in PHOTOS:
        faces = service[name]["faces"]
        lines.append(
            row(
                f"{name} ({faces} face{'s' * (faces != 1)}) p50 / p95 ms",
                f"{service[name]['p50_ms']} / {service[name]['p95_ms']}",
                f"{baseline[name]['p50_ms']} / {baseline[name]['p95_ms']}" if baseline else "-",
            )
        )
    for clients in CLIENTS:
        lines.append(
            row(
                f"crowd faces/s, {clients} client{'s' * (clients != 1)}",
                service["crowd_faces_per_s"][str(clients)],
                baseline["crowd_faces_per_s"][str(clients)] if baseline else "-",
            )
        )
    lines.append(row("peak RSS MB", service["peak_rss_mb"], baseline["peak_rss_mb"] if baseline else "-"))
    lines.append(
        row(
            "age network alone, faces/s",
            report["age_network_faces_per_s"],
            report["baseline_age_network_faces_per_s"],
        )
    )
    lines.append("")
    lines.append("Service stages, median ms (the service's own timings_ms):")
    lines.append("")
    stages = list(service["crowd"]["stages_ms"])
    lines.append("| photo | " + " | ".join(stages) + " |")
    lines.append("|---|" + "---:|" * len(stages))
    for name in PHOTOS:
        medians = service[name]["stages_ms"]
        lines.append(f"| {name} | " + " | ".join(str(medians.get(s, "-")) for s in stages) + " |")
    lines.append("")
    lines.append(
        f"Engine **{report['engine']}**; crowd throughput with 4 clients is "
        f"**{report['service_efficiency']:.0%}** of the age network's own rate (service efficiency)."
    )
    if report["speedup_vs_baseline"] is not None:
        lines.append(f"Speed-up on crowd throughput with 4 clients: **{report['speedup_vs_baseline']}x**")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from inference_service.vision.ensemble import model_files
    from inference_service.vision.options import AgeModelOptions

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (service and baseline alike)")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="the shared photos folder")
    parser.add_argument(
        "--checkpoint",
        default=str(ROOT / AgeModelOptions().path),
        help="the model the service runs (default: the shipped one; a checkpoint or an ensemble file); the "
        "naive pipeline runs its first checkpoint, the ResNet-50 of an ensemble",
    )
    parser.add_argument("--config", help="extra service config file (TOML [service] table) to benchmark")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions; medians are reported")
    parser.add_argument("--requests", type=int, default=20, help="requests per repetition (portrait, group)")
    parser.add_argument("--crowd-requests", type=int, default=8, help="requests per repetition (crowd)")
    parser.add_argument("--throughput-requests", type=int, default=16, help="crowd requests per repetition")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true", help="measure the service only")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve_baseline:
        serve_baseline(args.serve_baseline, args.device, args.checkpoint)
        return 0
    naive_checkpoint = str(model_files(args.checkpoint)[0])

    photos = {name: args.photos / rel for name, rel in PHOTOS.items()}
    missing = [str(p) for p in photos.values() if not p.is_file()]
    if missing:
        print(f"error: benchmark photos not found: {missing} (see --photos)", file=sys.stderr)
        return 2
    plan = {
        "repeats": args.repeats,
        "requests": args.requests,
        "crowd_requests": args.crowd_requests,
        "throughput_requests": args.throughput_requests,
        "warmup": args.warmup,
    }
    # The naive server is far slower: fewer requests per repetition keep the run short;
    # medians and rates do not depend on the count.
    baseline_plan = {
        **plan,
        "requests": max(3, args.requests // 4),
        "crowd_requests": max(2, args.crowd_requests // 4),
        "throughput_requests": max(4, args.throughput_requests // 4),
        "warmup": 1,
    }

    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    report: dict = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": args.device,
        "machine": machine(args.device),
        "plan": plan,
        "baseline_plan": baseline_plan,
    }

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = write_service_config(
            Path(tmp) / "bench.cfg",
            args.config,
            f"device = {json.dumps(args.device)}\n"
            f"age_model.path = {json.dumps(str(Path(args.checkpoint).resolve()))}\n"
            f'log_level = "warning"\nmax_queue_wait_s = 600\n',  # measure, never refuse
        )
        print(f"service on :{port} ({args.device})", flush=True)
        command = [sys.executable, "-m", "inference_service", "--port", str(port), "--config", str(config)]
        with running(command, port, env, args.ready_timeout) as (pid, ready):
            report["service_ready"] = ready
            report["service"] = measure(port, pid, photos, plan)
        print("age network alone (the service's engine, flip and batch size)", flush=True)
        network_rate, report["engine"] = age_network_rate(config, rounds=3)
        report["age_network_faces_per_s"] = network_rate

    report["baseline"] = None
    if not args.no_baseline:
        port = free_port()
        print(f"naive pipeline on :{port} ({args.device})", flush=True)
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve-baseline",
            str(port),
            "--device",
            args.device,
            "--checkpoint",
            naive_checkpoint,
        ]
        with running(command, port, env, args.ready_timeout) as (pid, _):
            report["baseline"] = measure(port, pid, photos, baseline_plan)

    report["baseline_age_network_faces_per_s"] = baseline_network_rate(args.device, naive_checkpoint, 8)

    service, baseline = report["service"], report["baseline"]
    crowd_rate = service["crowd_faces_per_s"]["4"]
    report.update(
        {
            "service_efficiency": round(crowd_rate / report["age_network_faces_per_s"], 3),
            "stage_medians_ms": {name: service[name]["stages_ms"] for name in PHOTOS},
            "portrait_p50_ms": service["portrait"]["p50_ms"],
            "group_p50_ms": service["group"]["p50_ms"],
            "crowd_p50_ms": service["crowd"]["p50_ms"],
            "crowd_faces_per_s": service["crowd_faces_per_s"]["4"],
            "peak_rss_mb": service["peak_rss_mb"],
            "baseline_crowd_faces_per_s": baseline["crowd_faces_per_s"]["4"] if baseline else None,
            "speedup_vs_baseline": round(
                service["crowd_faces_per_s"]["4"] / baseline["crowd_faces_per_s"]["4"], 2
            )
            if baseline
            else None,
        }
    )
    markdown = table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown + "\n")
    # One committed results file per CPU kind (and GPU), so figures from different machines never mix.
    kind = args.device.split(":")[0] if args.device.startswith("cuda") else report["machine"]["cpu_kind"]
    per_kind = args.out.with_name(f"{'gpu' if kind == 'cuda' else 'cpu-' + kind}.md")
    per_kind.write_text(markdown + "\n")
    print()
    print(markdown)
    print(f"\nwrote {args.out}, {args.out.with_suffix('.md')} and {per_kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
