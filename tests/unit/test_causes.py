"""A rollout stuck on a cause that waiting cannot heal fails at once with it; transient
causes keep the wait going. Messages are shaped as kubelet, the scheduler and the
Mountpoint driver write them."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace as NS
from typing import Any

import pytest

from labkit import causes, settings
from labkit.causes import Problem
from labkit.kube import Kube
from labkit.waiting import WaitTimeout, WontHeal

PERMANENT = [
    (
        "FailedScheduling",
        '0/3 nodes are available: persistentvolumeclaim "s3-claim-x" not found. preemption: 0/3 nodes are available',
        "a claim that does not exist",
    ),
    (
        "FailedMount",
        'MountVolume.SetUp failed for volume "s3-pv" : rpc error: code = InvalidArgument desc = Volume capability not supported',
        "an access mode the driver refuses",
    ),
    (
        "FailedMount",
        'MountVolume.SetUp failed for volume "s3-pv" : rpc error: code = InvalidArgument desc = unknown mount option',
        "a mount the driver rejects",
    ),
    ("ErrImageNeverPull", 'Container image "example.test/assets:1" is not present with pull policy of Never', "may not pull"),
    (
        "Failed",
        'Failed to pull image "example.test/assets:1": rpc error: code = NotFound desc = failed to pull and unpack image: not found',
        "does not exist",
    ),
    (
        "Failed",
        'Failed to pull image "public.ecr.aws/x:1": dial tcp: lookup public.ecr.aws on 10.96.0.10:53: no such host',
        "no registry in reach",
    ),
    ("CreateContainerConfigError", 'configmap "assets" not found', "a ConfigMap or Secret that does not exist"),
    (
        "FailedMount",
        'MountVolume.SetUp failed for volume "systemd-bus" : hostPath type check failed: /run/systemd is not a directory',
        "a host path the node lacks",
    ),
]
TRANSIENT = [
    (
        "FailedMount",
        'MountVolume.MountDevice failed for volume "s3-pv" : kubernetes.io/csi: attacher.MountDevice failed to create newCsiDriverClient: '
        "driver name s3.csi.aws.com not found in the list of registered CSI drivers",
    ),
    ("FailedScheduling", "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: not helpful"),
    ("FailedScheduling", "0/3 nodes are available: 3 node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
    ("ImagePullBackOff", 'Back-off pulling image "public.ecr.aws/aws-containers/retail-store-sample-assets:0.4.0"'),
    ("Failed", 'Error: failed to create containerd task: exec: "bash": executable file not found in $PATH'),
    ("BackOff", "Back-off restarting failed container assets in pod assets-1"),
]


@pytest.mark.parametrize(("reason", "message", "named"), PERMANENT)
def test_causes_that_cannot_heal_are_named_with_the_fix(reason: str, message: str, named: str) -> None:
    found = causes.permanent([Problem("pod assets-1", reason, message)])
    assert found is not None
    assert named in found
    assert found.startswith("pod assets-1 shows ")
    assert "waiting cannot heal it: " in found


@pytest.mark.parametrize(("reason", "message"), TRANSIENT)
def test_transient_causes_keep_the_wait_going(reason: str, message: str) -> None:
    assert causes.permanent([Problem("pod assets-1", reason, message)]) is None


def test_a_long_message_keeps_its_end() -> None:
    text = "kubelet path " * 100 + "code = InvalidArgument desc = the cause"
    assert causes.short(text).endswith("the cause")
    assert len(causes.short(text)) < 700


def fake_kube(events: list[tuple[str, str]], pod_phase: str = "Pending") -> Kube:
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    deployment = NS(
        metadata=NS(generation=1),
        spec=NS(replicas=1),
        status=NS(observed_generation=1, replicas=1, updated_replicas=1, ready_replicas=0, available_replicas=0),
    )
    pod = NS(metadata=NS(name="assets-1"), status=NS(phase=pod_phase, container_statuses=[]))
    warning = [
        NS(
            involved_object=NS(name="assets-1"),
            reason=r,
            message=m,
            last_timestamp=stamp,
            event_time=None,
            metadata=NS(creation_timestamp=stamp),
        )
        for r, m in events
    ]
    kube: Any = Kube.__new__(Kube)
    kube.timeouts = settings.Timeouts()
    kube.apps = NS(read_namespaced_deployment=lambda name, namespace: deployment)
    kube.core = NS(
        list_namespaced_event=lambda namespace, field_selector: NS(items=warning),
        list_namespaced_pod=lambda namespace, label_selector="": NS(items=[pod]),
        list_namespaced_persistent_volume_claim=lambda namespace: NS(items=[]),
    )
    return kube  # type: ignore[no-any-return]


def test_rollout_fails_at_once_on_a_missing_claim() -> None:
    kube = fake_kube([PERMANENT[0][:2]])
    with pytest.raises(WontHeal, match=r"cannot roll out: pod assets-1 shows a claim that does not exist .*s3-claim-x"):
        kube.wait_rollout("assets", "assets", timeout=30)


def test_rollout_keeps_waiting_on_a_transient_cause() -> None:
    kube = fake_kube([TRANSIENT[0]])
    with pytest.raises(WaitTimeout, match=r"timed out after 1.5s .*driver name s3.csi.aws.com not found"):
        kube.wait_rollout("assets", "assets", timeout=1.5)


def test_a_cause_that_heals_at_once_is_a_race_not_a_failure() -> None:
    """The scheduler may not see a claim created a moment before: one early FailedScheduling."""
    kube: Any = fake_kube([PERMANENT[0][:2]])
    calls = {"events": 0, "reads": 0}
    listing = kube.core.list_namespaced_event
    read = kube.apps.read_namespaced_deployment

    def events(namespace: str, field_selector: str) -> Any:
        calls["events"] += 1
        return listing(namespace, field_selector) if calls["events"] == 1 else NS(items=[])

    def deployment(name: str, namespace: str) -> Any:
        calls["reads"] += 1
        dep = read(name, namespace)
        if calls["reads"] >= 4:
            dep.status.available_replicas = dep.status.ready_replicas = 1
        return dep

    kube.core.list_namespaced_event = events
    kube.apps.read_namespaced_deployment = deployment
    assert kube.wait_rollout("assets", "assets", timeout=30)["availableReplicas"] == 1
