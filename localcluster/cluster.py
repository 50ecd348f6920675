"""`up`, `down` and `status`: the cluster's life cycle."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from localcluster import components, host, network, processes
from localcluster.api import Api, wait_for
from localcluster.build import binaries, build_all
from localcluster.images import build_images, import_images
from localcluster.layout import (
    ADMIN_KUBECONFIG,
    BRIDGE,
    CNI_DATA,
    CONTAINERD_SOCKET,
    ETCD_CLIENT_PORT,
    ETCD_DATA,
    KUBELET_ROOT,
    LOG_DIR,
    NODE_NAME,
    POD_CIDR,
    RUN_DIR,
    RUNC_ROOT,
    SERVICE_CIDR,
    STATE_DIR,
)
from localcluster.pki import ensure_pki, etcd_client_context, write_kubeconfigs
from localcluster.preflight import preflight, require_root
from localcluster.runtime import ctr
from localcluster.versions import Versions
from stackbase.processes import processes_matching, signal_and_wait
from stackbase.ui import Progress, ToolError, say, warn

UP_STEPS = 11


def _etcd_healthy() -> bool | None:
    try:
        context = etcd_client_context()  # etcd answers only a client with a certificate of its CA
        with urllib.request.urlopen(f"https://127.0.0.1:{ETCD_CLIENT_PORT}/health", timeout=3, context=context) as response:
            return True if b'"health":"true"' in response.read() else None
    except OSError:
        return None


def _node(api: Api) -> dict[str, Any] | None:
    status, node = api.get(f"/api/v1/nodes/{NODE_NAME}")
    return node if status == 200 and isinstance(node, dict) else None


def _node_ready(api: Api) -> bool | None:
    node = _node(api)
    if node is None:
        return None
    conditions = node.get("status", {}).get("conditions", [])
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return True if ready and not node.get("spec", {}).get("taints") else None


def _alive(daemon: processes.Daemon) -> Callable[[], None]:
    return lambda: processes.ensure_alive(daemon)


def up(versions: Versions) -> None:
    progress = Progress(UP_STEPS)
    progress.step("checking the machine (root, /dev/fuse, ports, Debian packages, no other Kubernetes)")
    preflight(versions, progress)
    host.begin(processes.pid_of("kubelet"))
    found = build_all(versions, progress)  # steps 2 and 3
    progress.step("building images (pause, the apps' stand-ins)")
    images = build_images(versions, progress)
    progress.step("certificates, kubeconfigs, host network set-up")
    node_ip = network.node_ip()
    ensure_pki(node_ip)
    write_kubeconfigs(node_ip)
    network.prepare_host()
    api = Api(node_ip)

    progress.step("starting etcd")
    etcd = components.etcd(found)
    processes.start(etcd)
    wait_for("etcd", _etcd_healthy, 60, f"see {etcd.log_file}", _alive(etcd))

    progress.step(f"starting kube-apiserver on {node_ip}:6443")
    apiserver = components.apiserver(found, node_ip)
    processes.start(apiserver)
    wait_for(
        "kube-apiserver /readyz",
        lambda: True if api.get("/readyz")[0] == 200 else None,
        180,
        f"see {apiserver.log_file}",
        _alive(apiserver),
    )

    progress.step("starting kube-controller-manager and kube-scheduler")
    for daemon in (components.controller_manager(found), components.scheduler(found)):
        processes.start(daemon)

    progress.step("starting containerd and importing images")
    containerd = components.containerd(versions.pause_image)
    processes.start(containerd)
    wait_for(
        "containerd",
        lambda: True if ctr("version", check=False, timeout=10) else None,
        60,
        f"see {containerd.log_file}",
        _alive(containerd),
    )
    import_images(images, progress)

    progress.step(f"starting kubelet (node {NODE_NAME}) and kube-proxy")
    kubelet = components.kubelet(found, node_ip)
    processes.start(kubelet)
    processes.start(components.kube_proxy(found))
    wait_for(
        f"node {NODE_NAME} to register",
        lambda: True if _node(api) else None,
        120,
        f"see {kubelet.log_file}",
        _alive(kubelet),
    )

    progress.step("waiting for the node to be Ready and the default ServiceAccount")
    wait_for(
        f"node {NODE_NAME} Ready without taints",
        lambda: _node_ready(api),
        180,
        f"see {kubelet.log_file} and {LOG_DIR}/kube-controller-manager.log",
        _alive(kubelet),
    )
    wait_for(
        "ServiceAccount default/default",
        lambda: True if api.get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200 else None,
        120,
        f"see {LOG_DIR}/kube-controller-manager.log",
    )
    for name in components.START_ORDER:
        if processes.pid_of(name) is None:
            raise ToolError(f"{name} exited: read the end of {LOG_DIR}/{name}.log for the cause")
    say(f"cluster up in {progress.elapsed()}: node {NODE_NAME} Ready ({versions.kubernetes})")
    say(f"kubeconfig: {ADMIN_KUBECONFIG}")
    say(f"logs: {LOG_DIR}")


def _remove_containers() -> None:
    """Kill and delete every container of the k8s.io namespace while containerd still runs."""
    if processes.pid_of("containerd") is None or not CONTAINERD_SOCKET.exists():
        return
    tasks = ctr("tasks", "ls", "-q", check=False, timeout=30).split()
    for task in tasks:
        ctr("tasks", "kill", "-s", "SIGKILL", "--all", task, check=False, timeout=30)
    deadline = time.monotonic() + 15
    for task in tasks:
        while time.monotonic() < deadline:
            if (
                ctr("tasks", "delete", task, check=False, timeout=30).strip()
                or task not in ctr("tasks", "ls", "-q", check=False, timeout=30).split()
            ):
                break
            time.sleep(0.5)
    containers = ctr("containers", "ls", "-q", check=False, timeout=30).split()
    if containers:
        ctr("containers", "delete", *containers, check=False, timeout=60)


def _kill_leftover_containers() -> None:
    """Shims and runc containers that outlived containerd (found by our socket and runc root)."""
    for pid in processes_matching(str(CONTAINERD_SOCKET)):
        signal_and_wait(pid, 5)
    root = RUNC_ROOT / "k8s.io"
    if root.is_dir() and shutil.which("runc"):
        listed = subprocess.run(["runc", "--root", str(root), "list", "-q"], capture_output=True, text=True)
        for container in listed.stdout.split():
            subprocess.run(["runc", "--root", str(root), "delete", "--force", container], capture_output=True)


def down() -> None:
    require_root()
    record = host.load()  # None: nothing of the cluster's was recorded, so only its own names go
    progress = Progress(4)
    progress.step("stopping kube-proxy, kubelet, scheduler, controller-manager")
    for name in ("kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager"):
        processes.stop(name)
    progress.step("removing pod containers, stopping containerd, kube-apiserver, etcd")
    _remove_containers()
    for name in ("containerd", "kube-apiserver", "etcd"):
        processes.stop(name)
    _kill_leftover_containers()
    progress.step(f"unmounting pod volumes and container mounts; removing {BRIDGE}, its veths, the cluster's iptables chains and cgroups")
    left = network.unmount_all(record)
    network.remove_netns(record)
    network.delete_links()
    network.clean_iptables(record)
    left_cgroups = host.remove_cgroup_parent()
    progress.step("removing cluster data (etcd, kubelet, CNI, run dir); images, certificates and logs stay")
    if left:
        warn(f"still mounted, so {KUBELET_ROOT} and {RUN_DIR} are kept: {', '.join(left)}")
    else:
        owned = [KUBELET_ROOT] if record and record.made_kubelet_root else []
        for directory in (ETCD_DATA, CNI_DATA, *owned, RUN_DIR):
            shutil.rmtree(directory, ignore_errors=True)
    leftovers = leftover_report(record) + [f"cgroup {c}" for c in left_cgroups]
    if record:
        leftovers += [f"not restored: {what}" for what in host.restore(record)]
    if leftovers:
        raise ToolError("down left: " + "; ".join(leftovers) + " (run `python3 -m localcluster down` again)")
    host.finish()
    restored = "; sysctls and / as they were" if record else ""
    say(f"cluster down in {progress.elapsed()}: no process, mount, interface, rule or cgroup of the cluster left{restored}")


def leftover_report(record: host.Record | None) -> list[str]:
    found = []
    running = [name for name in components.START_ORDER if processes.pid_of(name) is not None]
    if running:
        found.append("running: " + ", ".join(running))
    shims = processes_matching(str(CONTAINERD_SOCKET))
    if shims:
        found.append(f"containerd shims: {shims}")
    mounts = network.own_mounts(record)
    if mounts:
        found.append(f"{len(mounts)} mounts, e.g. {mounts[0]}")
    links = network.bridge_links()
    if links:
        found.append("interfaces: " + ", ".join(links))
    rules = host.kube_chain_lines() if record and record.made_chains else []
    if rules:
        found.append(f"{len(rules)} KUBE-/CNI- iptables lines")
    return found


def status(versions: Versions) -> dict[str, Any]:
    daemons = {name: processes.pid_of(name) for name in components.START_ORDER}
    result: dict[str, Any] = {
        "kubernetes_version": versions.kubernetes,
        "running": all(pid is not None for pid in daemons.values()),
        "daemons": daemons,
        "kubeconfig": str(ADMIN_KUBECONFIG),
        "state_dir": str(STATE_DIR),
        "log_dir": str(LOG_DIR),
        "binaries": str(binaries(versions).kube_dir),
        "node_name": NODE_NAME,
        "pod_cidr": POD_CIDR,
        "service_cidr": SERVICE_CIDR,
        "containerd_socket": str(CONTAINERD_SOCKET),
        "node_ready": None,
    }
    if daemons["kube-apiserver"] is not None:
        try:
            result["node_ready"] = bool(_node_ready(Api(network.node_ip())))
        except (ToolError, OSError):
            result["node_ready"] = None
    return result
