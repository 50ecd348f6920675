"""Per-run values fill the manifests strictly, and the run's copy is its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import render, settings
from labkit.drivers import by_name

TIMEOUTS = settings.Timeouts()

PV: render.Obj = {
    "apiVersion": "v1",
    "kind": "PersistentVolume",
    "metadata": {"name": "s3-pv"},
    "spec": {"csi": {"driver": "d", "volumeHandle": "h"}},
}
PVC: render.Obj = {
    "apiVersion": "v1",
    "kind": "PersistentVolumeClaim",
    "metadata": {"name": "c", "namespace": "assets"},
    "spec": {"volumeName": "s3-pv"},
}
NS: render.Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "assets"}}


def test_substitute_fills_every_string() -> None:
    docs = [{"a": "${X}", "b": ["x-${Y}-y"], "${X}": 1}]
    assert render.substitute(docs, {"X": "one", "Y": "two"}) == [{"a": "one", "b": ["x-two-y"], "one": 1}]


def test_unknown_variable_is_named() -> None:
    with pytest.raises(render.ManifestError, match=r"unknown variable \$\{S3_BUCKT\} in the manifests \(known: S3_BUCKET\)"):
        render.substitute([{"a": "${S3_BUCKT}"}], {"S3_BUCKET": "b"})


@pytest.mark.parametrize("value", [None, ""])
def test_variable_without_value_is_named(value: str | None) -> None:
    with pytest.raises(render.ManifestError, match=r"\$\{AWS_REGION\} has no value"):
        render.substitute([{"a": "region=${AWS_REGION}"}], {"AWS_REGION": value})


def test_value_that_would_change_the_yaml_is_refused() -> None:
    with pytest.raises(render.ManifestError, match="characters a manifest value may not"):
        render.substitute([{"a": "${B}"}], {"B": "x\nkind: Secret"})


def test_s3_overlay_needs_its_values() -> None:
    with pytest.raises(render.ManifestError, match=r"variable \$\{(S3_BUCKET|AWS_REGION)\} has no value for this run"):
        render.render(by_name("s3-pv"), {}, timeouts=TIMEOUTS)


def test_missing_overlay_is_named() -> None:
    with pytest.raises(render.ManifestError, match=r"no kustomization\.yaml"):
        render.kustomize(settings.MANIFESTS / "overlays" / "nope", timeout=TIMEOUTS.kubectl)


def test_for_run_isolates_and_labels() -> None:
    mine = render.for_run([NS, PV, PVC], namespace="assets-s3-pv-r1", run_id="r1", variant="s3-pv", spread_over_nodes=False)
    ns, pv, pvc = mine
    assert ns["metadata"]["name"] == "assets-s3-pv-r1"
    assert pv["metadata"]["name"] == "s3-pv-r1"
    assert pv["spec"]["csi"]["volumeHandle"] == "h-r1"
    assert pvc["metadata"]["namespace"] == "assets-s3-pv-r1"
    assert pvc["spec"]["volumeName"] == "s3-pv-r1"
    for doc in mine:
        assert doc["metadata"]["labels"] == {
            settings.LABEL_MANAGED_BY: settings.PROJECT,
            settings.LABEL_RUN: "r1",
            settings.LABEL_VARIANT: "s3-pv",
        }
    assert PV["metadata"]["name"] == "s3-pv", "the input must not change"


def test_renames_map_the_run_names_back_to_the_pages() -> None:
    mine = render.for_run([NS, PV, PVC], namespace="assets", run_id="r1", variant="page", spread_over_nodes=False, unique="r1-page")
    assert render.renames([NS, PV, PVC], mine) == {"s3-pv-r1-page": "s3-pv", "h-r1-page": "h"}


def test_spread_puts_replicas_on_different_nodes() -> None:
    docs = render.render(by_name("emptydir"), {}, timeouts=TIMEOUTS)
    dep = render.one(render.for_run(docs, namespace="n", run_id="r", variant="emptydir", spread_over_nodes=True), "Deployment")
    rule = dep["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert rule["topologyKey"] == "kubernetes.io/hostname"
    assert rule["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_one_names_what_is_there() -> None:
    with pytest.raises(render.ManifestError, match=r"expected one Deployment, found 0 \(objects: Namespace/assets\)"):
        render.one([NS], "Deployment")


@pytest.mark.parametrize("how", ["relative path", "symlink"])
def test_a_lab_tree_cannot_read_host_files(tmp_path: Path, how: str) -> None:
    """A lab source is a tree from elsewhere: kustomize's root-only restriction keeps its
    generators from pulling a host file into objects the live tier would apply."""
    outside = tmp_path / "host-secret.txt"
    outside.write_text("not-for-the-cluster\n")
    lab = tmp_path / "lab"
    lab.mkdir()
    if how == "symlink":
        (lab / "data.txt").symlink_to(outside)
        source = "data.txt"
    else:
        source = "../host-secret.txt"
    (lab / "kustomization.yaml").write_text(f"configMapGenerator:\n- name: leak\n  files:\n  - {source}\n")
    with pytest.raises(render.ManifestError, match=r"is not in or below .*read only files inside its own directory"):
        render.kustomize(lab, timeout=TIMEOUTS.kubectl)


def test_cluster_scoped_rbac_is_the_runs_own() -> None:
    """A lab's ClusterRole and binding get the run's names (so clean-up and a second run never
    meet a user's), the binding follows the rename, and its ServiceAccount is the run's."""
    rbac = "rbac.authorization.k8s.io/v1"
    docs: list[render.Obj] = [
        NS,
        {"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": "reader"}},
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "assets", "namespace": "assets"}],
        },
    ]
    mine = render.for_run(docs, namespace="assets-x-r1", run_id="r1", variant="x", spread_over_nodes=False)
    role, binding = mine[1], mine[2]
    assert role["metadata"] == {"name": "reader-r1", "labels": role["metadata"]["labels"]}
    assert binding["metadata"]["name"] == "reader-r1"
    assert "namespace" not in binding["metadata"]
    assert binding["roleRef"]["name"] == "reader-r1"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "assets", "namespace": "assets-x-r1"}]
