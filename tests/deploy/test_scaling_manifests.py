"""Serving at scale: HPA behaviour, PodDisruptionBudget, topology spread, request-rate scaling
and the KServe alternative, asserted on what `kubectl kustomize` renders."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml
from deploy_tools import IMAGE, PROJECT, VERSION, by_kind, selects

from gitops_ml.serve.metrics import Metrics
from gitops_ml.serve.routers import v2

REPLICAS = {"staging": (1, 2), "prod": (3, 10)}
# Oldest Kubernetes the manifests target: matchLabelKeys (topology spread) and the PDB's
# unhealthyPodEvictionPolicy are on by default from 1.27; 1.29 is the oldest release still
# maintained by the big clouds' extended support when this was written.
KUBERNETES = "1.29"
CRD_GROUPS = {"serving.kserve.io", "monitoring.coreos.com"}


def pod_of(deployment):
    return deployment["spec"]["template"]


def add_component(deploy_tree, stage, component):
    path = deploy_tree / "overlays" / stage / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    kustomization.setdefault("components", []).append(f"../../components/{component}")
    path.write_text(yaml.safe_dump(kustomization))


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_overlay_renders_the_pdb_next_to_the_deployment(render, stage):
    objects = by_kind(render(f"overlays/{stage}"))
    assert set(objects) == {"Deployment", "Service", "HorizontalPodAutoscaler",
                            "PodDisruptionBudget"}
    assert {o["metadata"]["namespace"] for o in objects.values()} == {f"gitops-ml-{stage}"}


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_pdb_and_service_select_the_deployments_pods(render, stage):
    objects = by_kind(render(f"overlays/{stage}"))
    labels = pod_of(objects["Deployment"])["metadata"]["labels"]
    assert selects(objects["PodDisruptionBudget"]["spec"]["selector"], labels)
    assert objects["Service"]["spec"]["selector"].items() <= labels.items()
    assert selects(objects["Deployment"]["spec"]["selector"], labels)


def test_pdb_lets_a_single_replica_stage_drain(render):
    # minAvailable: 1 with one replica would block `kubectl drain` for ever.
    objects = by_kind(render("overlays/staging"))
    assert objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == 1
    pdb = objects["PodDisruptionBudget"]["spec"]
    assert pdb["maxUnavailable"] == 1 and "minAvailable" not in pdb
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_topology_spread_is_hard_across_nodes_and_soft_across_zones(render):
    deployment = by_kind(render("overlays/prod"))["Deployment"]
    pod = pod_of(deployment)
    spread = {c["topologyKey"]: c for c in pod["spec"]["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "ScheduleAnyway"
    for constraint in spread.values():
        assert constraint["maxSkew"] == 1
        assert selects(constraint["labelSelector"], pod["metadata"]["labels"])
        assert constraint["matchLabelKeys"] == ["pod-template-hash"]


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_hpa_scales_up_at_once_and_down_one_pod_a_minute(render, stage):
    hpa = by_kind(render(f"overlays/{stage}"))["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == REPLICAS[stage]
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert hpa["behavior"]["scaleDown"]["policies"] == [
        {"type": "Pods", "value": 1, "periodSeconds": 60}]
    [cpu] = hpa["metrics"]
    assert cpu["resource"] == {"name": "cpu",
                               "target": {"type": "Utilization", "averageUtilization": 70}}


def test_request_rate_component_adds_a_pods_metric_and_a_pod_monitor(render, deploy_tree):
    add_component(deploy_tree, "prod", "request-rate")
    objects = by_kind(render("overlays/prod"))
    metrics = objects["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert [m["type"] for m in metrics] == ["Resource", "Pods"]
    assert metrics[1]["pods"]["metric"] == {"name": "gitops_ml_scoring_requests_per_second"}
    monitor = objects["PodMonitor"]["spec"]
    pod = pod_of(objects["Deployment"])
    assert selects(monitor["selector"], pod["metadata"]["labels"])
    [endpoint] = monitor["podMetricsEndpoints"]
    [server] = pod["spec"]["containers"]
    assert endpoint["port"] in {p["name"] for p in server["ports"]}
    assert endpoint["path"] == "/metrics" and endpoint["honorLabels"] is True


def adapter_rule():
    values = yaml.safe_load((PROJECT / "deploy" / "components" / "request-rate"
                             / "prometheus-adapter-values.yaml").read_text())
    [rule] = values["rules"]["custom"]
    return rule


def test_request_rate_rule_reads_the_counter_the_server_exports():
    rule = adapter_rule()
    metrics = Metrics("model", "v1.2.0")
    metrics.observe("/v2/models/{name}/infer", "POST", 200, 0.01)
    from prometheus_client import generate_latest

    exported = generate_latest(metrics.registry).decode()
    series = re.match(r"(\w+)\{", rule["seriesQuery"]).group(1)
    assert re.search(rf'^{series}\{{.*endpoint="/v2/models/{{name}}/infer"', exported, re.M)
    assert re.fullmatch(rule["name"]["matches"], series)
    assert rule["name"]["as"] == "gitops_ml_scoring_requests_per_second"


@pytest.mark.parametrize(("endpoint", "counted"), [
    ("/v2/models/{name}/infer", True), ("/predict", True), ("/v2/health/ready", False),
    ("/v2/health/live", False), ("/metrics", False), ("/v2/models/{name}", False)])
def test_request_rate_rule_counts_only_scoring_endpoints(endpoint, counted):
    # PromQL label regexes are fully anchored RE2; these patterns mean the same in Python's re.
    pattern = re.search(r'endpoint=~"([^"]+)"', adapter_rule()["metricsQuery"]).group(1)
    assert bool(re.fullmatch(pattern, endpoint)) is counted


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_kserve_variant_is_an_inference_service_pinned_by_digest(render, stage):
    objects = by_kind(render(f"kserve/{stage}"))
    assert set(objects) == {"InferenceService", "PodDisruptionBudget"}
    isvc = objects["InferenceService"]
    assert isvc["metadata"]["namespace"] == f"gitops-ml-{stage}"
    assert isvc["metadata"]["annotations"] == {
        "serving.kserve.io/deploymentMode": "RawDeployment",
        "serving.kserve.io/autoscalerClass": "hpa",
        "gitops-ml/model-version": VERSION}
    predictor = isvc["spec"]["predictor"]
    [server] = predictor["containers"]
    assert server["name"] == "kserve-container"      # the name KServe routes to
    assert server["image"] == IMAGE
    assert server["ports"] == [{"name": "http", "containerPort": 8080}]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == REPLICAS[stage]
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("cpu", 70)


def test_kserve_variant_keeps_the_pod_hardening(render):
    objects = by_kind(render("kserve/prod"))
    predictor = objects["InferenceService"]["spec"]["predictor"]
    [server] = predictor["containers"]
    assert predictor["securityContext"]["runAsNonRoot"] is True
    assert predictor["securityContext"]["runAsUser"] == 10001
    assert predictor["automountServiceAccountToken"] is False
    assert server["securityContext"] == {"allowPrivilegeEscalation": False,
                                         "readOnlyRootFilesystem": True,
                                         "capabilities": {"drop": ["ALL"]}}
    assert server["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert server["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert [v["name"] for v in predictor["volumes"]] == ["tmp"]


def test_kserve_pdb_and_spread_select_the_pods_kserve_labels(render):
    # KServe labels predictor pods serving.kserve.io/inferenceservice=<InferenceService name>.
    objects = by_kind(render("kserve/prod"))
    isvc = objects["InferenceService"]
    kserve_labels = {"serving.kserve.io/inferenceservice": isvc["metadata"]["name"],
                     "component": "predictor"}
    assert selects(objects["PodDisruptionBudget"]["spec"]["selector"], kserve_labels)
    for constraint in isvc["spec"]["predictor"]["topologySpreadConstraints"]:
        assert selects(constraint["labelSelector"], kserve_labels)


def test_kserve_probes_use_paths_the_server_serves(render):
    [server] = by_kind(render("kserve/prod"))["InferenceService"]["spec"]["predictor"][
        "containers"]
    served = {route.path for route in v2.router.routes}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert server[probe]["httpGet"]["path"] in served


@pytest.mark.parametrize("path", ["overlays/staging", "overlays/prod", "kserve/prod",
                                  "overlays/prod+request-rate"])
def test_rendered_objects_pass_the_kubernetes_schema(render, deploy_tree, path):
    path, _, component = path.partition("+")
    if component:
        add_component(deploy_tree, path.split("/")[1], component)
    checked = []
    for obj in render(path):
        if obj["apiVersion"].split("/")[0] in CRD_GROUPS:
            continue    # custom resources: no schema offline (kubernetes-validate has core only)
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        checked.append(obj["kind"])
    assert "PodDisruptionBudget" in checked


def test_schema_check_rejects_a_misspelt_field():
    # Proof the strict check above can fail: a typo in the PDB is not silently ignored.
    pdb = yaml.safe_load((PROJECT / "deploy" / "base" / "pdb.yaml").read_text())
    pdb["spec"]["maxUnavaliable"] = pdb["spec"].pop("maxUnavailable")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pdb, KUBERNETES, strict=True)
