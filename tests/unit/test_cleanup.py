"""Cleanup deletes what carries the run's label, and nothing else, also after a failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fixtures.cleanup import Cleaner, Kind, Ref
from labkit import settings

NAMESPACED = {"Deployment", "ServiceAccount", "RoleBinding"}


@dataclass
class FakeObjects:
    """A cluster's objects with labels; selectors are `k=v,k=v`."""

    live: dict[Ref, dict[str, str]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)  # deletes and empties, in order

    listed: list[str] = field(default_factory=list)

    def cluster_scoped(self, kind: Kind) -> bool:
        return kind[1] not in NAMESPACED

    def list(self, kind: Kind, selector: str) -> list[Ref]:
        self.listed.append(kind[1])
        wanted = dict(part.split("=", 1) for part in selector.split(","))
        return [
            r for r, labels in self.live.items() if (r.api_version, r.kind) == kind and all(labels.get(k) == v for k, v in wanted.items())
        ]

    def delete(self, ref: Ref) -> None:
        self.deleted.append(f"{ref.kind}/{ref.name}")
        self.steps.append(f"delete {ref.kind}/{ref.name}")
        self.live.pop(ref, None)

    def exists(self, ref: Ref) -> bool:
        return ref in self.live

    def delete_workloads(self, namespace: Ref) -> None:
        self.steps.append(f"empty {namespace.name}")

    def workloads(self, namespace: Ref) -> tuple[str, ...]:
        return ()


def labels(run: str, variant: str | None = None) -> dict[str, str]:
    out = {settings.LABEL_RUN: run}
    if variant:
        out[settings.LABEL_VARIANT] = variant
    return out


def cluster() -> FakeObjects:
    objects = FakeObjects()
    for api, kind, name, lab in [
        ("storage.k8s.io/v1", "StorageClass", "lab-sc", {}),  # the user's
        ("storage.k8s.io/v1", "StorageClass", "lab-sc-r1", labels("r1", "s3-pv")),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", "lab-reader-r1", labels("r1", "s3-pv")),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "lab-reader-r1", labels("r1", "s3-pv")),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "lab-reader-r2", labels("r2", "s3-pv")),
    ]:
        objects.live[Ref(kind, name, f"uid-{kind}-{name}", api)] = lab
    for kind, name, lab in [
        ("Namespace", "assets", {}),  # the user's own, same base name
        ("Namespace", "assets-emptydir-r1", labels("r1", "emptydir")),
        ("Namespace", "assets-s3-pv-r1", labels("r1", "s3-pv")),
        ("Namespace", "assets-s3-pv-r2", labels("r2", "s3-pv")),  # another run
        ("PersistentVolume", "s3-pv", {}),
        ("PersistentVolume", "s3-pv-r1", labels("r1", "s3-pv")),
    ]:
        ref = Ref(kind, name, f"uid-{name}")
        objects.live[ref] = lab
    return objects


def test_only_the_runs_objects_go_namespaces_first() -> None:
    objects = cluster()
    deleted = Cleaner(objects, "r1", settings.Timeouts()).clean()
    assert deleted == ["Namespace/assets-emptydir-r1", "Namespace/assets-s3-pv-r1", "PersistentVolume/s3-pv-r1"]
    assert objects.steps[:3] == ["empty assets-emptydir-r1", "empty assets-s3-pv-r1", "delete Namespace/assets-emptydir-r1"]
    assert sorted(r.name for r in objects.live if r.kind in ("Namespace", "PersistentVolume")) == ["assets", "assets-s3-pv-r2", "s3-pv"]


def test_every_cluster_scoped_kind_the_run_applied_goes_last_applied_first() -> None:
    """A labelled StorageClass, ClusterRole and ClusterRoleBinding the run applied do not
    outlive it; namespaced kinds go with their namespace; other runs' and the user's stay."""
    objects = cluster()
    cleaner = Cleaner(objects, "r1", settings.Timeouts())
    rbac = "rbac.authorization.k8s.io/v1"
    cleaner.track(
        [
            {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass"},
            {"apiVersion": rbac, "kind": "ClusterRole"},
            {"apiVersion": "v1", "kind": "Namespace"},
            {"apiVersion": "apps/v1", "kind": "Deployment"},
            {"apiVersion": rbac, "kind": "ClusterRoleBinding"},
        ]
    )
    deleted = cleaner.clean()
    assert deleted[3:] == ["ClusterRoleBinding/lab-reader-r1", "ClusterRole/lab-reader-r1", "StorageClass/lab-sc-r1"]
    assert "Deployment" not in objects.listed
    assert sorted(f"{r.kind}/{r.name}" for r in objects.live if r.kind not in ("Namespace", "PersistentVolume")) == [
        "ClusterRoleBinding/lab-reader-r2",
        "StorageClass/lab-sc",
    ]


def test_one_variant_only() -> None:
    objects = cluster()
    Cleaner(objects, "r1", settings.Timeouts()).clean("s3-pv")
    assert objects.deleted == ["Namespace/assets-s3-pv-r1", "PersistentVolume/s3-pv-r1"]


def test_cleanup_runs_after_a_failing_test(pytester: pytest.Pytester) -> None:
    """A failing test still leaves only the user's objects behind."""
    pytester.syspathinsert(str(pytester.path))
    pytester.makepyfile(
        shared="""
from tests_unit_fake import cluster
OBJECTS = cluster()
""",
        test_fail="""
import pytest
from labkit import settings
from fixtures.cleanup import Cleaner
from shared import OBJECTS

@pytest.fixture
def run():
    cleaner = Cleaner(OBJECTS, "r1", settings.Timeouts())
    try:
        yield
    finally:
        cleaner.clean()

def test_breaks(run):
    raise AssertionError("the lab broke")

def test_after():
    assert sorted(r.name for r in OBJECTS.live if r.kind in ("Namespace", "PersistentVolume")) == ["assets", "assets-s3-pv-r2", "s3-pv"]
""",
    )
    pytester.makepyfile(tests_unit_fake=Path(__file__).read_text())
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)


def test_slow_deletion_is_reported_not_hung() -> None:
    class Stuck(FakeObjects):
        def delete(self, ref: Ref) -> None:
            self.deleted.append(ref.name)  # accepted, but never goes away

    objects = Stuck()
    objects.live[Ref("Namespace", "assets-emptydir-r1", "u")] = labels("r1")
    quick = settings.Timeouts(namespace_delete=0.5)
    with pytest.raises(RuntimeError, match=r"cleanup left objects behind: .*still present: Namespace/assets-emptydir-r1"):
        Cleaner(objects, "r1", quick).clean()
