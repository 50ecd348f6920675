"""An S3 bucket through the Mountpoint for Amazon S3 CSI driver, on a static PV (lab pages 2-3).

Shared: a file touched in one replica is an object of the bucket, listed in the other, on any
node, and it outlives the pod. The run needs the driver on the cluster and a bucket: from the
S3 plugin (fixtures/s3.py), which brings an S3 server and the driver into the cluster where
none are given, or uses AWS or the user's endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labkit import csi, invariants, lab, mountpoint, s3bucket, s3driver
from labkit.kube import Kube
from labkit.variants import Capabilities, Claim, NodeAgent, Obj, Prepared, Setup, Variant

MOUNT_PATH = "/mountpoint-s3"
NEEDS_DRIVER = f"the Mountpoint for Amazon S3 CSI driver (CSIDriver {mountpoint.DRIVER})"
NEEDS_BUCKET = "an S3 bucket (S3 region and credentials)"


@dataclass(frozen=True)
class S3(Variant):
    def path(self, app: lab.App) -> str:
        return MOUNT_PATH

    def initial_files(self, app: lab.App) -> tuple[str, ...]:
        return lab.BUCKET_SEED

    def unmet(self, setup: Setup) -> list[str]:
        """With the in-cluster server the suite brings the server and (where missing) the driver,
        so only their prerequisites count; otherwise the driver must be there and S3 reachable."""
        kube: Kube = setup.kube
        if setup.resource("s3_server_mode") == "in-cluster":
            why = s3driver.in_cluster_unmet(kube, setup.run_id)
            return [f"needs {NEEDS_DRIVER}: {why}"] if why else []
        reasons = []
        why = csi.missing_reason(kube, mountpoint.DRIVER)
        if why:
            reasons.append(f"needs {NEEDS_DRIVER}: {why}")
        why = s3bucket.missing_reason(setup.option("s3_region"), setup.option("s3_endpoint"))
        if why:
            reasons.append(f"needs {NEEDS_BUCKET}: {why}")
        return reasons

    def prepare(self, setup: Setup) -> Prepared:
        bucket: s3bucket.Bucket = setup.resource("s3_bucket")
        if setup.resource("s3_server_mode") == "in-cluster":
            setup.resource("s3_csi_driver")
        return Prepared({"S3_BUCKET": bucket.name, "AWS_REGION": bucket.region, "S3_ENDPOINT": bucket.endpoint}, bucket)

    def store_invariants(self, docs: Sequence[Obj], app: lab.App) -> list[str]:
        lines, pv = invariants.claimed_store(docs, self, app)
        if pv is None:
            return lines
        options = invariants.get(pv, "spec.mountOptions") or []
        if not any(str(o).startswith("region=") and len(str(o)) > len("region=") for o in options):
            lines.append(
                invariants.finding(
                    pv, f"spec.mountOptions {options!r} has no region=...: without it mount-s3 asks the instance metadata service and hangs"
                )
            )
        for wanted in ("allow-delete", "allow-other", f"uid={app.uid}", f"gid={app.uid}"):
            if wanted not in options:
                lines.append(invariants.finding(pv, f"spec.mountOptions {options!r} lacks {wanted!r}"))
        if not invariants.get(pv, "spec.csi.volumeAttributes.bucketName"):
            lines.append(invariants.finding(pv, "spec.csi.volumeAttributes.bucketName is empty"))
        return lines


def _logs(name: str, namespace: str, selector: str) -> tuple[str, tuple[str, ...]]:
    return (name, ("logs", "-n", namespace, "-l", selector, "--all-containers", "--prefix", "--tail=300"))


DRIVER = S3(
    name="s3-pv",
    overlay="overlays/s3-pv",
    capabilities=Capabilities(shared_across_pods=True, shared_across_nodes=True, survives_pod_removal=True, object_store=True),
    rollout_timeout=lab.ROLLOUT_TIMEOUT_S3,
    optional_components={"S3_ENDPOINT": "components/s3-endpoint"},
    claim=Claim(volume="mountpoint-s3", capacity="1Gi", csi_driver=mountpoint.DRIVER),
    node_agents=(
        NodeAgent("the driver's node plugin", mountpoint.NAMESPACE, mountpoint.NODE_LABELS),
        NodeAgent("a Mountpoint pod", mountpoint.MOUNTPOINT_NAMESPACE, {}, where_present=True),
    ),
    diagnostics=(
        _logs("csi-node-logs", mountpoint.NAMESPACE, mountpoint.selector(mountpoint.NODE_LABELS)),
        _logs("csi-controller-logs", mountpoint.NAMESPACE, mountpoint.selector(mountpoint.CONTROLLER_LABELS)),
        _logs("mountpoint-pod-logs", mountpoint.MOUNTPOINT_NAMESPACE, mountpoint.MOUNTPOINT_POD_LABEL),
        ("mountpoint-attachments", ("get", f"mountpoints3podattachments.{mountpoint.DRIVER}", "-o", "yaml")),
        ("mount-events", ("get", "events", "-A", "--field-selector", "reason=FailedMount")),
    ),
)
