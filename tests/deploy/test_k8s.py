"""deploy/k8s renders with the real kubectl (kustomize) and validates against the Kubernetes 1.37 schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inference_service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.37.0"


def render(folder: Path) -> list[dict]:
    result = subprocess.run(
        [BIN / "kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=60, check=True
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def validate(documents: list[dict], tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return subprocess.run(
        [BIN / "kubernetes-validate", "--strict", "-k", KUBERNETES_VERSION, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def by_kind(documents: list[dict]) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in documents}


@pytest.mark.parametrize("overlay", ["cpu", "gpu"])
def test_every_overlay_renders_and_validates(overlay: str, tmp_path: Path) -> None:
    documents = render(K8S / "overlays" / overlay)
    kinds = sorted(by_kind(documents))
    assert kinds == ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]
    result = validate(documents, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_manifest_fails_validation(tmp_path: Path) -> None:
    documents = render(K8S / "overlays" / "cpu")
    by_kind(documents)["Deployment"]["spec"]["replicas"] = "two"
    assert validate(documents, tmp_path).returncode != 0
    documents = render(K8S / "overlays" / "cpu")
    by_kind(documents)["Deployment"]["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"][
        "pathh"
    ] = "/health"
    assert validate(documents, tmp_path).returncode != 0  # --strict: unknown fields are errors


def test_the_deployment_is_what_a_reviewer_expects() -> None:
    kinds = by_kind(render(K8S / "overlays" / "cpu"))
    pod = kinds["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    startup = container["startupProbe"]
    assert (
        startup["httpGet"]["path"] == "/ready"
        and startup["periodSeconds"] * startup["failureThreshold"] >= 300
    )
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"]["drop"] == ["ALL"] and pod["spec"]["securityContext"]["runAsNonRoot"]
    settings = Settings.load()
    shutdown = settings.shutdown_timeout_s + settings.drain_s
    assert pod["spec"]["terminationGracePeriodSeconds"] > shutdown
    resources = container["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]
    assert pod["spec"]["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["AGE_DEVICE"] == "cpu" and env["AGE_HOST"] == "0.0.0.0"
    assert kinds["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    selector = kinds["Service"]["spec"]["selector"]
    assert selector.items() <= pod["metadata"]["labels"].items()


def test_the_gpu_overlay_asks_for_one_gpu_and_cuda() -> None:
    (container,) = by_kind(render(K8S / "overlays" / "gpu"))["Deployment"]["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["image"].endswith(":gpu") and container["resources"]["limits"]["nvidia.com/gpu"] == 1
    # a torch engine runs there: the memory the docs ask for torch pods
    assert container["resources"]["requests"]["memory"] == "1800Mi"
    assert container["resources"]["limits"]["memory"] == "2560Mi"
    assert {e["name"]: e["value"] for e in container["env"]}["AGE_DEVICE"] == "cuda"


def test_the_config_map_is_the_shipped_service_cfg() -> None:
    """kustomize reads only files below its folder, so base/ holds a copy: it must not drift."""
    shipped = (REPO / "service.cfg").read_text()
    assert (K8S / "base" / "service.cfg").read_text() == shipped, "cp service.cfg deploy/k8s/base/"
    config_map = by_kind(render(K8S / "overlays" / "cpu"))["ConfigMap"]
    assert config_map["data"]["service.cfg"] == shipped
