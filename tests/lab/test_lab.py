"""The storage lab, replayed on a real cluster, once per variant (driver).

Page 1 (ephemeral container storage) with the emptyDir baseline: a file touched in one
replica is not in the other. Pages 2-3 (Mountpoint for Amazon S3): the same steps on an
S3-backed volume, where it is. Tests that need more than the scenario select drivers by
capability: a claim, agents on each node, an object store.
"""

from __future__ import annotations

import hashlib
from functools import partial

import pytest

from fixtures import summary
from labkit import invariants, verdict
from labkit.kube import PodInfo, found
from labkit.lab import CONTENT_IMAGE, CONTENT_SOURCE, NEW_IMAGE, REPLICAS, SECOND_NEW_IMAGE, TMP_DIR
from labkit.labrun import LabRun
from labkit.settings import PRODUCT_IMAGES
from labkit.transcript import Transcript
from labkit.variants import Variant


def mounts_a_claim(variant: Variant) -> bool:
    return variant.claim is not None


def runs_node_agents(variant: Variant) -> bool:
    return bool(variant.node_agents)


def is_an_object_store(variant: Variant) -> bool:
    return variant.capabilities.object_store


with_claim = pytest.mark.variants(where=mounts_a_claim)
with_node_agents = pytest.mark.variants(where=runs_node_agents)
with_object_store = pytest.mark.variants(where=is_an_object_store)
REMOVAL_CHECK = "removal-check.jpg"


def assert_only_known_files(run: LabRun, listing: list[str]) -> None:
    missing = sorted(set(run.initial_files) - set(listing))
    strays = sorted(set(listing) - set(run.initial_files) - run.written)
    assert not missing, f"{run.path} lacks the lab's images {missing}; it lists {sorted(listing)}"
    assert not strays, f"{run.path} has files neither the lab nor this run made: {strays}"


def write_in_one_read_in_other(run: LabRun, t: Transcript, *, writer: PodInfo, reader: PodInfo, name: str) -> None:
    """Touch `name` in the writer, see it there, list the reader, assert the verdict."""
    before = run.ls(t, reader)
    assert name not in before, f"pod {reader.name} lists {name} before it is written: the verdict would mean nothing"
    run.touch(t, writer, name)
    wrote = run.ls(t, writer)
    assert name in wrote, f"touch succeeded but pod {writer.name} does not list {name}: {wrote}"
    read = run.ls(t, reader)
    if run.config is not None:
        summary.observe(run.config, summary.Observation(run.variant, name, writer, tuple(wrote), reader, tuple(read)))
    verdict.check(run.variant, name, writer, wrote, reader, read, run.app)


def test_lab_scenario(lab: LabRun, transcript: Transcript) -> None:
    """Describe, list, scale to 2, touch divewatch.jpg in one pod, list in the other."""
    live = lab.describe(transcript)
    problems = invariants.deployment(live, lab.app)
    assert not problems, "the running Deployment is not the lab's:\n" + "\n".join(problems)

    assert_only_known_files(lab, lab.ls(transcript, lab.pods()[0]))

    pods = lab.scale(transcript)
    assert len(pods) == REPLICAS, f"expected {REPLICAS} ready pods after the rollout, got {[p.name for p in pods]}"
    if lab.spread:
        placed = [(p.name, p.node) for p in pods]
        assert len({p.node for p in pods}) == len(pods), f"replicas share a node although {len(lab.nodes)} nodes are schedulable: {placed}"

    write_in_one_read_in_other(lab, transcript, writer=pods[0], reader=pods[1], name=NEW_IMAGE)


def test_reverse_direction(lab: LabRun, transcript: Transcript) -> None:
    """The same verdict the other way round: written in the second pod, listed in the first."""
    first, second = lab.scale(transcript)[:2]
    write_in_one_read_in_other(lab, transcript, writer=second, reader=first, name=SECOND_NEW_IMAGE)


def test_pod_removal(lab: LabRun, transcript: Transcript) -> None:
    """The page's claim: when a pod is removed, what its emptyDir held is gone for good;
    what the shared store holds outlives the pod."""
    pods = lab.scale(transcript)
    writer = pods[0]
    lab.touch(transcript, writer, REMOVAL_CHECK)
    lab.touch(transcript, writer, REMOVAL_CHECK, path=TMP_DIR)
    wrote = lab.ls(transcript, writer)
    tmp_before = lab.ls(transcript, writer, TMP_DIR)
    assert REMOVAL_CHECK in tmp_before, f"touch succeeded but pod {writer.name} does not list {TMP_DIR}/{REMOVAL_CHECK}: {tmp_before}"

    with transcript.step(f"delete pod {writer.name}", f"kubectl delete pod -n {lab.namespace} {writer.name}") as step:
        lab.kube.delete_pod(lab.namespace, writer.name)
        after = lab.kube.wait_replacement(lab.namespace, lab.selector_labels, writer.name, len(pods))
        step.output = "\n".join(f"{p.name} on node {p.node}" for p in after)
    replacement = next(p for p in after if p.name not in {q.name for q in pods})

    tmp = lab.ls(transcript, replacement, TMP_DIR)
    assert REMOVAL_CHECK not in tmp, (
        f"{TMP_DIR}/{REMOVAL_CHECK} outlived pod {writer.name}: {TMP_DIR} is not an emptyDir that shares the pod's lifetime ({tmp})"
    )
    verdict.check(lab.variant, REMOVAL_CHECK, writer, wrote, replacement, lab.ls(transcript, replacement), lab.app)


def test_content_is_shared_byte_for_byte(lab: LabRun, transcript: Transcript) -> None:
    """Beyond the page: a product image written under a new name in one pod reads back with the
    same sha256 in the other (and from the bucket) where the store is shared; it is absent where not."""
    writer, reader = lab.scale(transcript)[:2]
    data = (PRODUCT_IMAGES / CONTENT_SOURCE).read_bytes()
    written = hashlib.sha256(data).hexdigest()
    assert lab.sha256(transcript, reader, CONTENT_IMAGE) is None, f"pod {reader.name} has {CONTENT_IMAGE} before it is written"
    lab.write(transcript, writer, CONTENT_IMAGE, data)
    at_writer = lab.sha256(transcript, writer, CONTENT_IMAGE)
    at_reader = lab.sha256(transcript, reader, CONTENT_IMAGE)
    verdict.check_content(lab.variant, CONTENT_IMAGE, written, writer, at_writer, reader, at_reader, lab.app)
    if lab.store is not None:
        with transcript.step("read the object from the store", lab.store.shown("read", CONTENT_IMAGE)) as step:
            in_store = lab.store.sha256(CONTENT_IMAGE)
            step.output = in_store or "no such object"
        assert in_store == written, f"store {lab.store.name} holds {CONTENT_IMAGE} as {in_store or 'no object'}, written: {written}"


@with_claim
def test_volume_and_claim_bound(lab: LabRun, transcript: Transcript) -> None:
    """`kubectl get pv` / `describe pvc`: Bound to each other, the lab's fields, used by both pods."""
    claim = lab.variant.claim
    assert claim is not None
    claim_name = next(
        v["persistentVolumeClaim"]["claimName"]
        for v in lab.describe(transcript)["spec"]["template"]["spec"]["volumes"]  # type: ignore[index]
        if v["name"] == claim.volume
    )
    pvc = lab.kube.wait_pvc_bound(lab.namespace, claim_name)
    pv = lab.kube.core.read_persistent_volume(pvc.spec.volume_name)
    args = ["get", "pv", pv.metadata.name]
    with transcript.step("get the volume", lab.kubectl.shown(args)) as step:
        step.output = lab.kubectl.check(args)
    assert pv.status.phase == "Bound", f"PV {pv.metadata.name} is {pv.status.phase}, the lab shows Bound"
    assert (pv.spec.claim_ref.namespace, pv.spec.claim_ref.name) == (lab.namespace, claim_name), (
        f"PV {pv.metadata.name} is bound to {pv.spec.claim_ref.namespace}/{pv.spec.claim_ref.name}"
    )
    assert pvc.spec.storage_class_name == claim.storage_class, (
        f"PVC {claim_name} has storageClassName {pvc.spec.storage_class_name!r}; the lab has {claim.storage_class!r}"
    )
    assert pv.spec.access_modes == list(claim.access_modes), f"PV {pv.metadata.name} access modes {pv.spec.access_modes}"
    assert invariants.quantity(pv.spec.capacity["storage"]) == invariants.quantity(claim.capacity), (
        f"PV {pv.metadata.name} capacity {pv.spec.capacity}, the lab has {claim.capacity}"
    )
    assert pv.spec.persistent_volume_reclaim_policy == claim.reclaim_policy, (
        f"PV {pv.metadata.name} reclaim policy {pv.spec.persistent_volume_reclaim_policy}, the lab has {claim.reclaim_policy}"
    )

    pods = lab.scale(transcript)
    users = [p.name for p in pods if claim_name in lab.claims_of(p.name)]
    assert len(users) == REPLICAS, f"PVC {claim_name} is used by {users}, the lab shows {REPLICAS} pods"


@with_node_agents
def test_store_served_on_each_replica_node(lab: LabRun, transcript: Transcript) -> None:
    """Where the replicas run, the store's agents do: for S3, the driver's node plugin on each
    of their nodes and, where the driver mounts in pods (its pod mounter), a Mountpoint pod.
    With replicas on two nodes this is a shared verdict's premise: two mounts of one store."""
    nodes = sorted({p.node or "" for p in lab.scale(transcript)})
    for agent in lab.variant.node_agents:
        if agent.where_present and found(partial(lab.kube.core.read_namespace, agent.namespace)) is None:
            transcript.note(agent.what, f"kubectl get namespace {agent.namespace}", "not found: the store runs no such pods here", 0.0)
            continue
        selector = ",".join(f"{k}={v}" for k, v in agent.labels.items())
        args = ["get", "pods", "-n", agent.namespace, *(["-l", selector] if selector else []), "-o", "wide"]
        with transcript.step(agent.what, lab.kubectl.shown(args)) as step:
            step.output = lab.kubectl.check(args)
        running = lab.kube.pods(agent.namespace, dict(agent.labels))
        lacking = [node for node in nodes if node not in {p.node for p in running}]
        assert not lacking, f"no {agent.what} ({agent.namespace} {selector or 'any pod'}) on replica node(s) {lacking}: {running}"


@with_object_store
def test_files_land_in_the_store(lab: LabRun, transcript: Transcript) -> None:
    """`aws s3 ls`: the files touched in either pod are objects of size 0 beside the images."""
    assert lab.store is not None
    first, second = lab.scale(transcript)[:2]
    for pod, name in ((first, NEW_IMAGE), (second, SECOND_NEW_IMAGE)):
        if name not in lab.written:  # Mountpoint does not let `touch` change an existing object
            lab.touch(transcript, pod, name)
    with transcript.step("list the store", lab.store.shown("list")) as step:
        sizes = lab.store.keys()
        step.output = "\n".join(f"{size:>10} {key}" for key, size in sorted(sizes.items()))
    for image in lab.initial_files:
        assert image in sizes, f"store {lab.store.name} lost the seeded {image}: {sorted(sizes)}"
    for name in (NEW_IMAGE, SECOND_NEW_IMAGE):
        assert sizes.get(name) == 0, f"store {lab.store.name}: expected {name} of size 0, found {sizes.get(name, 'no object')}"
