"""An S3 bucket through the Mountpoint for Amazon S3 CSI driver, on a static PV (lab pages 2-3).

Shared: a file touched in one replica is an object of the bucket, listed in the other, on any
node, and it outlives the pod. Its set-up for a run makes what the run needs and removes it at
the run's end: where the bucket lives (`--s3-server`) is AWS or the endpoint of --s3-endpoint,
with the credentials of the standard AWS chain; or an S3 server the suite runs in the cluster
(labkit/s3server.py) with keys made for the run, through a driver the suite installs with Helm
when the cluster has none (labkit/s3driver.py); or the bucket the cluster's provider made (EKS).
Credentials are never printed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from botocore.exceptions import ClientError

from labkit import csi, helm, invariants, lab, mountpoint, redact, s3bucket, s3driver, s3server, settings
from labkit.kube import Kube
from labkit.target import ClusterTarget
from labkit.variants import Capabilities, Claim, NodeAgent, Obj, Prepared, Setup, SetupFailed, Variant
from labkit.waiting import WaitTimeout, WontHeal

MOUNT_PATH = "/mountpoint-s3"
NEEDS_DRIVER = f"the Mountpoint for Amazon S3 CSI driver (CSIDriver {mountpoint.DRIVER})"
NEEDS_BUCKET = "an S3 bucket (S3 region and credentials)"
IN_CLUSTER = "in-cluster"
EXTERNAL = "external"


def plainly_external(s3_server: str, s3_endpoint: str | None) -> bool:
    """External without asking the cluster: said so, or an endpoint or credentials given."""
    return s3_server == EXTERNAL or (s3_server == "auto" and bool(s3_endpoint or s3bucket.has_credentials()))


def resolve_server(s3_server: str, s3_endpoint: str | None, kube: Kube) -> str:
    """`--s3-server auto`: in-cluster when no endpoint or AWS credentials are given and the
    cluster has no Mountpoint driver (whose keys would belong to some other server)."""
    if s3_server != "auto":
        return s3_server
    if plainly_external(s3_server, s3_endpoint):
        return EXTERNAL
    # A driver an earlier run left behind is the in-cluster path's to report (with its removal).
    return EXTERNAL if s3driver.present(kube) and not s3driver.left_by_a_run(kube) else IN_CLUSTER


def driver_chart(pin: str | None) -> helm.DriverChart:
    """--s3-driver-chart's published version, else the Go module's chart (no chart repository needed)."""
    return helm.published_chart(pin) if pin else helm.module_chart()


def aws_cli_env(server: s3server.InClusterS3) -> dict[str, str]:
    """The AWS CLI pointed at the run's S3 server (through the suite's port-forward), with the
    run's keys: a page's `aws s3 ...` then acts on the run's bucket, and nothing else."""
    return {
        "AWS_ENDPOINT_URL_S3": server.local_endpoint,
        "AWS_ACCESS_KEY_ID": server.keys.access_key_id,
        "AWS_SECRET_ACCESS_KEY": server.keys.secret_access_key,
        "AWS_REGION": server.region,
        "AWS_DEFAULT_REGION": server.region,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def since(started: float) -> str:
    return f"{time.monotonic() - started:.1f}s"


@dataclass(frozen=True)
class S3(Variant):
    def path(self, app: lab.App) -> str:
        return MOUNT_PATH

    def initial_files(self, app: lab.App) -> tuple[str, ...]:
        return lab.BUCKET_SEED

    def server_mode(self, setup: Setup) -> str:
        """'in-cluster' or 'external', decided once per run."""
        return setup.once("s3-server-mode", lambda: resolve_server(setup.option("s3_server"), setup.option("s3_endpoint"), setup.kube))

    def server(self, setup: Setup) -> s3server.InClusterS3:
        """The run's in-cluster S3 server, started at the first ask."""
        return setup.once("s3-server", lambda: _start_server(setup))

    def unmet(self, setup: Setup) -> list[str]:
        """With the in-cluster server the suite brings the server and (where missing) the driver,
        so only their prerequisites count; otherwise the driver must be there and S3 reachable."""
        kube: Kube = setup.kube
        if setup.cluster.mode == "eks":
            if setup.cluster.bucket is None:
                return ["--cluster eks made no bucket: no selected test needed the S3 CSI driver"]
            return []
        if self.server_mode(setup) == IN_CLUSTER:
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
        bucket = setup.cluster.bucket or setup.once("s3-bucket", lambda: self._bucket(setup))
        values = {"S3_BUCKET": bucket.name, "AWS_REGION": bucket.region, "S3_ENDPOINT": bucket.endpoint}
        if setup.cluster.bucket is not None or self.server_mode(setup) != IN_CLUSTER:
            return Prepared(values, bucket)
        return Prepared(values, bucket, aws_cli_env(self.server(setup)))

    def _bucket(self, setup: Setup) -> s3bucket.Bucket:
        """The run's bucket, seeded as the lab's; on the in-cluster server, with the driver."""
        if self.server_mode(setup) == IN_CLUSTER:
            server = self.server(setup)
            setup.once("s3-csi-driver", lambda: _install_driver(setup, server.keys))
            region, endpoint = server.region, server.endpoint
            client = s3bucket.make_client(region, server.local_endpoint, server.keys)
        else:
            region, endpoint = setup.option("s3_region"), setup.option("s3_endpoint")
            client = s3bucket.make_client(region, endpoint)
        try:
            name = s3bucket.bucket_name(setup.option("s3_bucket_prefix"), setup.run_id)
        except ValueError as err:
            raise SetupFailed(str(err)) from None
        try:
            s3bucket.create(client, name, region, setup.run_id, endpoint)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            raise SetupFailed(f"cannot create bucket {name}: {code}: {redact.text(str(err))}") from None
        if not setup.option("keep_namespaces"):
            setup.defer(lambda: setup.say(f"bucket: {name} deleted with {s3bucket.destroy(client, name)} objects"))
        s3bucket.seed(client, name)
        setup.say(f"bucket: {name} ({endpoint or 'AWS'}, {region}) seeded with {len(lab.BUCKET_SEED)} images")
        return s3bucket.Bucket(name, region, endpoint, client)

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


def _start_server(setup: Setup) -> s3server.InClusterS3:
    """The run's S3 server in the cluster, reachable from here through a port-forward."""
    region = setup.option("s3_region") or settings.S3_SERVER_REGION
    server = s3server.Server(setup.kube, setup.kubectl, setup.run_id, region, setup.timeouts)
    if setup.option("keep_namespaces"):
        setup.defer(lambda: setup.say(f"s3 server: kept (--keep-namespaces); remove with: kubectl delete namespace {server.namespace}"))
    else:
        setup.defer(lambda: _delete_server(setup, server))
    keys = s3server.Keys.generate()
    started = time.monotonic()
    try:
        endpoint = server.start(keys)
    except (WontHeal, WaitTimeout, RuntimeError) as err:
        raise SetupFailed(f"the in-cluster S3 server did not start: {err}") from None
    setup.say(f"s3 server: {server.image} in namespace {server.namespace}, {endpoint} for the nodes, ready in {since(started)}")
    setup.report("S3 server", f"in-cluster: {server.image} in namespace {server.namespace}")
    forward = s3server.port_forward(setup.kubectl, server.namespace, s3server.NAME, settings.S3_SERVER_PORT, setup.timeouts.port_forward)
    port = setup.enter(forward)
    return s3server.InClusterS3(server.namespace, endpoint, f"http://127.0.0.1:{port}", region, keys)


def _delete_server(setup: Setup, server: s3server.Server) -> None:
    started = time.monotonic()
    server.delete()
    setup.say(f"s3 server: namespace {server.namespace} deleted in {since(started)}")


def _install_driver(setup: Setup, keys: s3server.Keys) -> str:
    """The Mountpoint driver for the in-cluster server: installed with Helm when the cluster has
    none (and uninstalled at the run's end); 'present' when it was there already."""
    if s3driver.present(setup.kube):
        setup.report("S3 CSI driver", "already on the cluster (used, not touched)")
        return "present"
    cluster: ClusterTarget = setup.cluster
    install = s3driver.Installation(setup.kube, cluster.kubeconfig, cluster.context, setup.run_id, setup.timeouts)
    started = time.monotonic()
    try:
        install.helm = helm.ensure(setup.say)
    except helm.HelmUnavailable as err:
        raise SetupFailed(f"the Mountpoint driver the suite installs is not ready: {err}") from None
    if setup.option("keep_namespaces"):
        setup.defer(
            lambda: setup.say(
                f"s3 driver: kept (--keep-namespaces); remove with: helm uninstall {install.release} -n {mountpoint.NAMESPACE}"
                f" && kubectl delete secret {install.secret} -n {mountpoint.NAMESPACE}"
            )
        )
    else:
        setup.defer(lambda: _uninstall_driver(setup, install))
    try:
        chart = driver_chart(setup.option("s3_driver_chart"))
        install.install(keys, chart)
        install.wait_ready()
    except (helm.HelmUnavailable, s3driver.DriverError, WaitTimeout) as err:
        raise SetupFailed(f"the Mountpoint driver the suite installs is not ready: {err}") from None
    setup.say(f"s3 driver: release {install.release} of {chart.describe()} with {install.helm}, ready in {since(started)}")
    setup.report("S3 CSI driver", f"installed by the suite: Helm release {install.release}, {chart.describe()}")
    return f"installed as Helm release {install.release}"


def _uninstall_driver(setup: Setup, install: s3driver.Installation) -> None:
    started = time.monotonic()
    try:
        install.uninstall()
    except s3driver.DriverError as err:
        raise SetupFailed(str(err)) from None
    setup.say(f"s3 driver: release {install.release} uninstalled in {since(started)}, nothing of it left")
