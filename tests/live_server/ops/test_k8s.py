"""deploy/k8s: every manifest the kustomization lists is valid against the Kubernetes
schemas (kubernetes-validate, offline: the schemas ship in the package, strict: unknown
fields fail), and the pieces fit together (selectors, probes, config and secret names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from live_server.settings import Settings

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "labels", "resources", "images"}


def kustomization() -> dict[str, Any]:
    doc = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert doc["kind"] == "Kustomization"
    assert set(doc) <= KUSTOMIZATION_KEYS, set(doc) - KUSTOMIZATION_KEYS
    return doc


def rendered() -> list[dict[str, Any]]:
    """The resources as `kubectl kustomize` renders them: the namespace and the common
    labels applied (what these manifests use of kustomize)."""
    kust = kustomization()
    out = []
    for name in kust["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            if doc["kind"] != "Namespace":
                doc["metadata"]["namespace"] = kust["namespace"]
            for entry in kust.get("labels", []):
                doc["metadata"].setdefault("labels", {}).update(entry["pairs"])
            out.append(doc)
    return out


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = {d["kind"]: d for d in docs}
    assert len(kinds) == len(docs), "one resource of each kind"
    return kinds


def test_every_manifest_is_valid_against_the_kubernetes_schemas() -> None:
    docs = rendered()
    assert {d["kind"] for d in docs} == {
        "Namespace", "ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget",
    }  # fmt: skip
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    listed = set(kustomization()["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk, "a manifest is missing from kustomization.yaml, or absent"


def test_a_broken_manifest_is_refused() -> None:
    """The validator does refuse: a typo'd field and a wrong type."""
    deployment = by_kind(rendered())["Deployment"]
    deployment["spec"]["replica"] = 3
    try:
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError:
        pass
    else:
        raise AssertionError("an unknown field passed")


def test_the_pieces_fit_together() -> None:
    kinds = by_kind(rendered())
    deployment, service, pdb = kinds["Deployment"], kinds["Service"], kinds["PodDisruptionBudget"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (service["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"],
                     deployment["spec"]["selector"]["matchLabels"]):  # fmt: skip
        assert selector.items() <= pod_labels.items()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
    assert refs == {kinds["ConfigMap"]["metadata"]["name"], kinds["Secret"]["metadata"]["name"]}
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert grace > pre_stop + Settings().shutdown_timeout
    # the configuration is one the server accepts, in production mode, on a cluster
    env = {**kinds["ConfigMap"]["data"], **kinds["Secret"]["stringData"]}
    settings = Settings.from_env(env)
    assert settings.production and settings.redis_cluster and settings.redis_url
    assert settings.port == container["ports"][0]["containerPort"]
