"""Deploy the Mountpoint CSI driver from its own Helm chart (in the driver's Go module zip),
rendered offline by ``chartrender`` with only the local cluster's changes as values:

- ``experimental.podMounter: true``: the v2 architecture (controller + Mountpoint pods in
  namespace ``mount-s3`` + ``MountpointS3PodAttachment``), the only one that needs no systemd;
- ``supportLegacySystemDMounts: false``: nothing mounted by systemd here;
- ``imagePullPolicy: Never`` for the driver and both sidecars: the images are imported;
- the ``aws-secret`` Secret in ``kube-system`` with the S3 server's credentials.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

from s3stack.build import Artifacts
from s3stack.kube import get_json, kubectl
from s3stack.layout import (
    CHART_VALUES,
    CREDENTIALS_SECRET,
    DRIVER_NAME,
    DRIVER_NAMESPACE,
    MOUNTPOINT_NAMESPACE,
    RELEASE_NAME,
    RENDERED_MANIFEST,
    RUN_SYSTEMD,
    SECRET_MARK,
    STATE_DIR,
    SYSTEMD_DIR_MARK,
)
from s3stack.shell import run
from s3stack.ui import Progress, StackError, warn
from s3stack.versions import Versions

READY_TIMEOUT = 180.0
NODE_SELECTOR = "app=s3-csi-node"
CONTROLLER_SELECTOR = "app=s3-csi-controller"
ATTACHMENTS = "mountpoints3podattachments.s3.csi.aws.com"
VOLUME_LABEL = "s3.csi.aws.com/volume-name"

VALUES: dict[str, Any] = {
    "image": {"pullPolicy": "Never"},
    "sidecars": {
        "nodeDriverRegistrar": {"image": {"pullPolicy": "Never"}},
        "livenessProbe": {"image": {"pullPolicy": "Never"}},
    },
    "experimental": {"podMounter": True},
    "supportLegacySystemDMounts": False,
}


def render(artifacts: Artifacts, versions: Versions) -> str:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    CHART_VALUES.write_text(json.dumps(VALUES, indent=2) + "\n")
    command = [
        str(artifacts.tool("chartrender")),
        "--chart", str(artifacts.chart_dir),
        "--values", str(CHART_VALUES),
        "--release", RELEASE_NAME,
        "--namespace", DRIVER_NAMESPACE,
        "--kube-version", versions.kubernetes,
    ]  # fmt: skip
    manifest = run(command).stdout
    RENDERED_MANIFEST.write_text(manifest)
    return manifest


def _secret_document(creds: dict[str, str]) -> str:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": CREDENTIALS_SECRET, "namespace": DRIVER_NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "s3stack"}},
        "type": "Opaque",
        "stringData": {"key_id": creds["AWS_ACCESS_KEY_ID"], "access_key": creds["AWS_SECRET_ACCESS_KEY"]},
    }
    return json.dumps(secret)


def _host_prerequisites() -> None:
    if not RUN_SYSTEMD.exists():
        RUN_SYSTEMD.mkdir(parents=True)
        SYSTEMD_DIR_MARK.write_text(f"{RUN_SYSTEMD}\n")


def apply(manifest: str, creds: dict[str, str], progress: Progress, images_changed: bool = False) -> None:
    _host_prerequisites()
    document = _secret_document(creds)
    kubectl("apply", "-f", "-", input_text=document)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(RENDERED_MANIFEST))
    # The node plugin reads the Secret only when it starts: restart it when the Secret changed.
    digest = hashlib.sha256(document.encode()).hexdigest()
    if images_changed:
        # Same tags, new build: running driver pods keep the old one until they restart.
        for selector in (NODE_SELECTOR, CONTROLLER_SELECTOR):
            kubectl("delete", "pods", "-n", DRIVER_NAMESPACE, "-l", selector, "--wait=false", check=False)
        progress.note("images rebuilt: restarted the driver's pods")
    elif SECRET_MARK.is_file() and SECRET_MARK.read_text().strip() != digest:
        kubectl("delete", "pods", "-n", DRIVER_NAMESPACE, "-l", NODE_SELECTOR, "--wait=false", check=False)
        progress.note("credentials changed: restarted the s3-csi-node pods")
    SECRET_MARK.write_text(digest + "\n")
    progress.note(
        f"applied the driver's chart ({len(re.findall(r'^kind:', manifest, re.MULTILINE))} objects) and Secret {CREDENTIALS_SECRET}"
    )


def prune_orphans(progress: Progress) -> None:
    """Delete Mountpoint pods whose PersistentVolume is gone (a failed mount leaves its pod
    crash-looping after the workload and the volume were deleted)."""
    pods = get_json("pods", "-n", MOUNTPOINT_NAMESPACE).get("items", [])
    if not pods:
        return
    volumes = {pv["metadata"]["name"] for pv in get_json("pv").get("items", [])}
    for pod in pods:
        volume = pod["metadata"].get("labels", {}).get(VOLUME_LABEL)
        if volume and volume not in volumes:
            kubectl("delete", "pod", "-n", MOUNTPOINT_NAMESPACE, pod["metadata"]["name"], "--wait=false", check=False)
            progress.note(f"deleted orphan Mountpoint pod {pod['metadata']['name']} (volume {volume} is gone)")


def _node_problem() -> str | None:
    """Why the driver is not ready yet, or None."""
    daemonset = get_json("daemonset", "-n", DRIVER_NAMESPACE, "s3-csi-node")
    status = daemonset.get("status", {})
    if not daemonset or not status.get("desiredNumberScheduled"):
        return "DaemonSet s3-csi-node has no scheduled pods"
    if (
        status.get("numberReady", 0) < status["desiredNumberScheduled"]
        or status.get("updatedNumberScheduled", 0) < status["desiredNumberScheduled"]
    ):
        return f"s3-csi-node ready {status.get('numberReady', 0)}/{status['desiredNumberScheduled']}"
    pods = get_json("pods", "-n", DRIVER_NAMESPACE, "-l", "app.kubernetes.io/name=aws-mountpoint-s3-csi-driver").get("items", [])
    leaving = [pod["metadata"]["name"] for pod in pods if pod["metadata"].get("deletionTimestamp")]
    if leaving:
        return f"old driver pods still terminating: {', '.join(leaving)}"
    controller = get_json("deployment", "-n", DRIVER_NAMESPACE, "s3-csi-controller")
    if controller.get("status", {}).get("availableReplicas", 0) < 1:
        return "s3-csi-controller is not available"
    for node in get_json("nodes").get("items", []):
        name = node["metadata"]["name"]
        csinode = get_json("csinode", name)
        drivers = [d.get("name") for d in (csinode.get("spec", {}).get("drivers") or [])]
        if DRIVER_NAME not in drivers:
            return f"CSINode {name} does not list {DRIVER_NAME} yet"
    return None


def _pod_states() -> str:
    pods = get_json("pods", "-n", DRIVER_NAMESPACE, "-l", "app.kubernetes.io/name=aws-mountpoint-s3-csi-driver").get("items", [])
    states = []
    for pod in pods:
        for container in pod.get("status", {}).get("containerStatuses", []) or []:
            state = container.get("state", {})
            waiting = state.get("waiting", {})
            detail = waiting.get("reason", "") + (": " + waiting.get("message", "") if waiting.get("message") else "")
            states.append(f"{pod['metadata']['name']}/{container['name']} ready={container.get('ready')} {detail}".strip())
    return "; ".join(states) or "no driver pods"


def wait_ready(progress: Progress, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    problem: str | None = "not checked"
    while time.monotonic() < deadline:
        problem = _node_problem()
        if problem is None:
            progress.note(f"driver ready: s3-csi-node and s3-csi-controller up, CSINode lists {DRIVER_NAME}")
            return
        time.sleep(2)
    raise StackError(f"the driver is not ready after {timeout:.0f}s: {problem} ({_pod_states()}); see python3 -m s3stack logs node")


def remove(progress: Progress) -> None:
    """Delete what `apply` created: workloads first, then the Mountpoint pods, CRs, CRD, namespace."""
    kubectl("delete", "secret", "-n", DRIVER_NAMESPACE, CREDENTIALS_SECRET, "--ignore-not-found", check=False)
    if RENDERED_MANIFEST.is_file():
        # Controller first, so it creates no new Mountpoint pods while we clean up.
        kubectl(
            "delete",
            "deployment",
            "-n",
            DRIVER_NAMESPACE,
            "s3-csi-controller",
            "--ignore-not-found",
            "--wait=true",
            check=False,
            timeout=120,
        )
    kubectl(
        "delete",
        "pods",
        "-n",
        MOUNTPOINT_NAMESPACE,
        "--all",
        "--ignore-not-found",
        "--grace-period=10",
        "--wait=true",
        check=False,
        timeout=120,
    )
    if kubectl("get", "crd", ATTACHMENTS, "--ignore-not-found", check=False).strip():
        kubectl("delete", ATTACHMENTS, "--all", "--ignore-not-found", "--wait=true", check=False, timeout=60)
    if RENDERED_MANIFEST.is_file():
        kubectl("delete", "-f", str(RENDERED_MANIFEST), "--ignore-not-found", "--wait=true", check=False, timeout=180)
    else:
        warn(f"{RENDERED_MANIFEST} is missing: deleting the driver's known objects by name")
        for kind_name in ("daemonset/s3-csi-node", "deployment/s3-csi-controller"):
            kubectl("delete", "-n", DRIVER_NAMESPACE, kind_name, "--ignore-not-found", check=False)
        for kind_name in (
            f"csidriver/{DRIVER_NAME}",
            f"crd/{ATTACHMENTS}",
            f"namespace/{MOUNTPOINT_NAMESPACE}",
            "priorityclass/mount-s3-critical",
        ):
            kubectl("delete", kind_name, "--ignore-not-found", check=False)
    progress.note("deleted the driver's objects, its Mountpoint pods and namespace mount-s3")
    SECRET_MARK.unlink(missing_ok=True)


def remove_host_prerequisites() -> None:
    if SYSTEMD_DIR_MARK.is_file():
        try:
            RUN_SYSTEMD.rmdir()
        except OSError as err:
            warn(f"left {RUN_SYSTEMD} in place: {err}")
        SYSTEMD_DIR_MARK.unlink(missing_ok=True)
