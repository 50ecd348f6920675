"""The replay's credential: what its roles grant, and a kubectl that cannot be pointed at
another cluster or credential (a second kubeconfig, a context, a server, a token)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from labkit import scope, settings, tools

GRANT = scope.Grant("r1", ("assets", "ui"), ("s3-pv-r1-page",))


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_it_reads_the_cluster_and_changes_only_what_the_run_owns() -> None:
    docs = scope.objects(GRANT, [("", "nodes"), ("", "persistentvolumes"), ("storage.k8s.io", "storageclasses")], "page")
    assert all(d["metadata"]["labels"][settings.LABEL_RUN] == "r1" for d in docs), "every object is the run's"
    (role,) = by_kind(docs, "ClusterRole")
    reads = [r for r in role["rules"] if r["verbs"] == scope.READ]
    assert {(g, tuple(r["resources"])) for r in reads for g in r["apiGroups"]} == {
        ("", ("nodes", "persistentvolumes")),
        ("storage.k8s.io", ("storageclasses",)),
    }
    assert not any("secrets" in r["resources"] or "*" in r["resources"] for r in role["rules"]), "no Secret, no wildcard"
    deletes = [r for r in role["rules"] if "delete" in r["verbs"]]
    assert {(tuple(r["resources"]), tuple(r["resourceNames"])) for r in deletes} == {
        (("namespaces",), ("assets", "ui")),
        (("persistentvolumes",), ("s3-pv-r1-page",)),
    }
    bindings = {(b["metadata"].get("namespace"), b["roleRef"]["name"]) for b in by_kind(docs, "RoleBinding")}
    assert bindings == {("assets", "admin"), ("ui", "admin")}
    cluster_bindings = {b["roleRef"]["name"] for b in by_kind(docs, "ClusterRoleBinding")}
    assert cluster_bindings == {"view", role["metadata"]["name"]}
    (account,) = by_kind(docs, "ServiceAccount")
    assert account["metadata"]["namespace"] == GRANT.home not in GRANT.namespaces, "a page deleting its namespaces keeps its credential"


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in kubectl that prints the arguments it got, one per line."""
    fake = tmp_path / "real" / "kubectl"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(0o755)
    monkeypatch.setattr(tools, "find", lambda name: str(fake))
    return scope.shim(tmp_path / "bin", tmp_path / "replay.kubeconfig") / "kubectl"


def run(shim: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(shim), *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)


def test_a_second_kubeconfig_cannot_reach_another_cluster(kubectl: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.kubeconfig"
    other.write_text("apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster: {server: 'https://192.0.2.1'}\n")
    for args in (
        ["--kubeconfig", str(other), "get", "pods"],
        [f"--kubeconfig={other}", "get", "pods"],
        ["get", "pods", "--kubeconfig", str(other)],
    ):
        result = run(kubectl, *args)
        assert result.returncode == 1, args
        assert result.stdout == "", "the real kubectl never ran"
        assert (
            result.stderr.strip()
            == "kubectl --kubeconfig: the replay's kubectl talks only to the run's cluster, as the run's account; drop the flag"
        )
    through_env = run(kubectl, "get", "pods", env={"KUBECONFIG": str(other)})
    assert through_env.stdout.split("\n")[:2] == ["--kubeconfig", str(tmp_path / "replay.kubeconfig")], (
        "the replay's file wins over KUBECONFIG"
    )


@pytest.mark.parametrize(
    "flag",
    [
        "--context=prod",
        "--cluster=prod",
        "--user=admin",
        "-s",
        "--server=https://x",
        "--token=t",
        "--as=admin",
        "--as-group=system:masters",
    ],
)
def test_no_flag_points_it_elsewhere(kubectl: Path, flag: str) -> None:
    result = run(kubectl, "get", "pods", flag)
    assert result.returncode == 1
    assert flag.split("=")[0] in result.stderr


def test_a_pods_own_command_after_double_dash_is_its_own(kubectl: Path, tmp_path: Path) -> None:
    result = run(kubectl, "exec", "pod-1", "--", "sh", "-c", "echo --context=inside", "-s")
    assert result.returncode == 0
    assert result.stdout.split("\n")[:2] == ["--kubeconfig", str(tmp_path / "replay.kubeconfig")]
    assert "--context=inside" in result.stdout


def test_a_refusal_is_recognised_in_output() -> None:
    line = 'Error from server (Forbidden): namespaces "default" is forbidden: User "system:serviceaccount:lab-replay-r1:lab-replay" cannot delete'
    assert scope.refused(line)
    assert not scope.refused("namespace/default deleted")


def test_the_replays_helm_cannot_be_pointed_at_another_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "real" / "helm"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(0o755)
    monkeypatch.setattr(tools, "find", lambda name: "/bin/true")
    helm = scope.shim(tmp_path / "bin", tmp_path / "replay.kubeconfig", helm=str(fake)) / "helm"
    for args in (
        ["--kubeconfig", "/root/.kube/config", "list"],
        ["list", "--kube-context=prod"],
        ["list", "--kube-apiserver", "https://192.0.2.1"],
    ):
        refused = run(helm, *args)
        assert refused.returncode == 1, args
        assert refused.stdout == "", "the real helm never ran"
        assert "the replay's helm talks only to the run's cluster, as the run's account; drop the flag" in refused.stderr
    assert run(helm, "list", "-A").stdout.split("\n")[:4] == ["--kubeconfig", str(tmp_path / "replay.kubeconfig"), "list", "-A"]
