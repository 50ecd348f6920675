"""The kind path, through pytest-kubernetes, against a recording `kind` stand-in.

The unit tier needs no container engine, so a script named `kind` records the command
lines the suite makes pytest-kubernetes run; kind's own flags are the contract (`tox -e kind`
runs the real one).
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from fixtures.options import LabOptions
from labkit import kindcluster as kind
from labkit import settings
from labkit.kube import Kube
from labkit.waiting import WaitTimeout

FAKE_KIND = """#!/bin/sh
echo "$@" >> {log}
case "$1 $2" in
  "get clusters") cat {clusters} 2>/dev/null ;;
esac
exit 0
"""


@pytest.fixture
def fake_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "kind.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kind"
    script.write_text(FAKE_KIND.format(log=shlex.quote(str(log)), clusters=shlex.quote(str(tmp_path / "clusters"))))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr("labkit.tools.Path", _NoVenv)
    return tmp_path


class _NoVenv(type(Path())):  # type: ignore[misc]
    """Makes tools.find skip the venv, so the stand-in on PATH is found."""

    def is_file(self) -> bool:
        return False if self.name == "kind" else super().is_file()


def options(**changes: object) -> LabOptions:
    base = LabOptions(
        cluster="kind",
        kubeconfig=None,
        context=None,
        kind_name="storage-lab",
        kind_workers=2,
        kind_node_image=settings.versions()["KIND_NODE_IMAGE"],
        kind_image_archives=(),
        keep_cluster=False,
        keep_namespaces=False,
        run_id="r1",
        timeouts=settings.Timeouts(api_ready=1, kind_create=30),
        s3_region=None,
        s3_endpoint=None,
        s3_bucket_prefix="p",
        report_dir=Path("reports"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_config_is_multi_node_on_the_pinned_image() -> None:
    image = settings.versions()["KIND_NODE_IMAGE"]
    cfg = kind.config("storage-lab", 2, image)
    assert cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane", "worker", "worker"]
    assert {n["image"] for n in cfg["nodes"]} == {image}


def test_pinned_node_image_matches_the_kubernetes_minor() -> None:
    image = settings.versions()["KIND_NODE_IMAGE"]
    assert image.startswith(f"kindest/node:v{settings.kubernetes_minor()}."), image
    assert "@sha256:" in image, "kind node images must be pinned by digest"


def test_create_runs_kind_with_our_config_and_kubeconfig(fake_kind: Path) -> None:
    archive = fake_kind / "assets.tar"
    archive.write_text("x")
    cluster = kind.KindCluster(options(kind_image_archives=(archive,)), fake_kind)
    with pytest.raises(kind.KindError, match="is not ready"):
        cluster.up()  # the stand-in makes no API server, so readiness fails after create
    calls = (fake_kind / "kind.log").read_text().splitlines()
    assert calls[0] == "get clusters"
    assert f"create cluster --config {cluster.config_path} --kubeconfig {cluster.kubeconfig}" in calls
    written = yaml.safe_load(cluster.config_path.read_text())
    assert written["name"] == "storage-lab"
    assert len(written["nodes"]) == 3


def test_existing_cluster_is_reused_through_its_own_kubeconfig(fake_kind: Path) -> None:
    (fake_kind / "clusters").write_text("other\nstorage-lab\n")
    cluster = kind.KindCluster(options(), fake_kind)
    with pytest.raises(kind.KindError):
        cluster.up()
    calls = (fake_kind / "kind.log").read_text().splitlines()
    assert f"export kubeconfig --name storage-lab --kubeconfig {cluster.kubeconfig}" in calls


def test_image_archives_are_loaded(fake_kind: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = fake_kind / "assets.tar"
    archive.write_text("x")
    cluster = kind.KindCluster(options(kind_image_archives=(archive,)), fake_kind)
    monkeypatch.setattr("pytest_kubernetes.providers.base.AClusterManager.ready", lambda self, timeout=20: True)
    cluster.up()
    calls = (fake_kind / "kind.log").read_text().splitlines()
    assert f"load image-archive {archive} --name storage-lab" in calls


@pytest.mark.parametrize(("created", "keep", "deleted"), [(True, False, True), (True, True, False), (False, False, False)])
def test_down_deletes_only_what_it_created(
    fake_kind: Path, monkeypatch: pytest.MonkeyPatch, created: bool, keep: bool, deleted: bool
) -> None:
    cluster = kind.KindCluster(options(keep_cluster=keep), fake_kind)
    if not created:
        (fake_kind / "clusters").write_text("storage-lab\n")
    ready = iter([not created] + [True] * 10)
    monkeypatch.setattr("pytest_kubernetes.providers.base.AClusterManager.ready", lambda self, timeout=20: next(ready))
    monkeypatch.setattr("pytest_kubernetes.providers.base.sleep", lambda s: None)
    cluster.up()
    user_file = fake_kind / "users-kubeconfig"
    user_file.write_text("mine")
    cluster.down()
    calls = (fake_kind / "kind.log").read_text().splitlines()
    assert ("delete cluster --name storage-lab" in calls) is deleted
    assert user_file.read_text() == "mine"


def test_tox_kind_passes_the_kind_provider_through() -> None:
    """Podman users select kind's provider with KIND_EXPERIMENTAL_PROVIDER; tox must not drop it."""
    import configparser

    from labkit.settings import ROOT

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    assert "KIND_EXPERIMENTAL_PROVIDER" in parser["testenv:kind"]["pass_env"]


@pytest.mark.parametrize("cgroup_v1", [True, False])
def test_cgroup_v1_engines_get_the_kubelet_patch(cgroup_v1: bool) -> None:
    cfg = kind.config("storage-lab", 2, "node:v", cgroup_v1)
    patches = cfg.get("kubeadmConfigPatches", [])
    assert (kind.CGROUP_V1_PATCH in patches) is cgroup_v1
    if cgroup_v1:
        assert yaml.safe_load(patches[0]) == {"kind": "KubeletConfiguration", "failCgroupV1": False}


def _node(name: str, ready: str, role: str | None = None) -> SimpleNamespace:
    labels = {f"node-role.kubernetes.io/{role}": ""} if role else {}
    return SimpleNamespace(
        metadata=SimpleNamespace(name=name, labels=labels),
        status=SimpleNamespace(conditions=[SimpleNamespace(type="Ready", status=ready)]),
    )


def test_the_lab_waits_for_every_node_kind_made() -> None:
    """kind returns when the control plane is Ready; a worker still NotReady would leave the
    replicas one node to share, and the S3 verdict would not be made across nodes."""
    listings = iter(
        [
            [_node("cp", "True", "control-plane")],
            [_node("cp", "True", "control-plane"), _node("w1", "True"), _node("w2", "False")],
            [_node("cp", "True", "control-plane"), _node("w1", "True"), _node("w2", "True")],
        ]
    )
    kube: Any = Kube.__new__(Kube)
    kube.core = SimpleNamespace(list_node=lambda: SimpleNamespace(items=next(listings)))
    kube.timeouts = settings.Timeouts(nodes_ready=10)
    assert kube.wait_nodes_ready(3) == ["cp Ready (control-plane)", "w1 Ready", "w2 Ready"]


def test_a_node_that_never_gets_ready_is_named() -> None:
    kube: Any = Kube.__new__(Kube)
    kube.core = SimpleNamespace(list_node=lambda: SimpleNamespace(items=[_node("cp", "True"), _node("w1", "False")]))
    kube.timeouts = settings.Timeouts(nodes_ready=0.3)
    with pytest.raises(WaitTimeout, match="w1 NotReady"):
        kube.wait_nodes_ready(2)
