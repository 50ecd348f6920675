"""Each way a manifest can reach the node or hand out the cluster is named, object and field."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from labkit import render, safety, settings
from labkit.drivers import by_name

TIMEOUTS = settings.Timeouts()

VALUES = {"S3_BUCKET": "example-bucket", "AWS_REGION": "us-west-2"}


@pytest.fixture(scope="module")
def lab() -> list[render.Obj]:
    return render.render(by_name("s3-pv"), VALUES, timeouts=TIMEOUTS)


def _deployment(docs: list[render.Obj]) -> render.Obj:
    return render.one(docs, "Deployment", "assets")


def test_the_lab_as_written_is_clean(lab: list[render.Obj]) -> None:
    assert safety.dangers(lab) == []


def _pod(dep: render.Obj) -> render.Obj:
    spec: render.Obj = dep["spec"]["template"]["spec"]
    return spec


def _container(dep: render.Obj) -> render.Obj:
    first: render.Obj = _pod(dep)["containers"][0]
    return first


BREAKS: dict[str, tuple[Callable[[render.Obj], None], str]] = {
    "hostPath /": (
        lambda d: _pod(d)["volumes"].append({"name": "root", "hostPath": {"path": "/"}}),
        "Deployment/assets: spec.template.spec.volumes[root].hostPath is '/'",
    ),
    "privileged": (
        lambda d: _container(d)["securityContext"].update(privileged=True),
        "Deployment/assets: spec.template.spec.containers[assets].securityContext.privileged is true",
    ),
    "hostPID": (lambda d: _pod(d).update(hostPID=True), "Deployment/assets: spec.template.spec.hostPID is true"),
    "hostNetwork": (lambda d: _pod(d).update(hostNetwork=True), "Deployment/assets: spec.template.spec.hostNetwork is true"),
    "SYS_ADMIN": (
        lambda d: _container(d)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
        "containers[assets].securityContext.capabilities.add is ['SYS_ADMIN']",
    ),
    "privileged init container": (
        lambda d: _pod(d).update(initContainers=[{"name": "setup", "image": "x", "securityContext": {"privileged": True}}]),
        "spec.template.spec.initContainers[setup].securityContext.privileged is true",
    ),
    "hostPort": (
        lambda d: _container(d)["ports"][0].update(hostPort=80),
        "containers[assets].ports[http].hostPort is 80",
    ),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_a_dangerous_pod_field_is_named(lab: list[render.Obj], name: str) -> None:
    docs = copy.deepcopy(lab)
    change, expected = BREAKS[name]
    change(_deployment(docs))
    found = safety.dangers(docs)
    assert any(expected in line for line in found), found


def test_a_binding_to_cluster_admin_is_named(lab: list[render.Obj]) -> None:
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "assets-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "assets", "namespace": "assets"}],
    }
    assert safety.dangers([*lab, binding]) == [
        "ClusterRoleBinding/assets-admin: roleRef.name is 'cluster-admin': the lab grants no built-in administrative role"
    ]


def test_a_wildcard_cluster_role_is_named() -> None:
    role = {"kind": "ClusterRole", "metadata": {"name": "all"}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}
    assert safety.dangers([role]) == [
        "ClusterRole/all: rules[0].verbs has ['*']: the lab's roles name what they may do",
        "ClusterRole/all: rules[0].apiGroups has '*': the lab's cluster roles name what they reach",
        "ClusterRole/all: rules[0].resources has '*': the lab's cluster roles name what they reach",
    ]


def test_a_cronjob_pod_is_read_too() -> None:
    job = {"kind": "CronJob", "metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"hostIPC": True}}}}}}
    assert safety.dangers([job]) == [
        "CronJob/c: spec.jobTemplate.spec.template.spec.hostIPC is true: the lab never shares the node's namespaces"
    ]
