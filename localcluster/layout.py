"""Where everything lives, and the cluster's fixed network plan."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
GO_SRC = PACKAGE_DIR / "gosrc"
GO_MOD = GO_SRC / "go.mod"

# Kept across `down`: certificates, configs, logs, containerd's image store.
STATE_DIR = Path(os.environ.get("LABCLUSTER_STATE_DIR", "/var/lib/labcluster"))
PKI_DIR = STATE_DIR / "pki"
ETC_DIR = STATE_DIR / "etc"
LOG_DIR = STATE_DIR / "logs"
ADMIN_KUBECONFIG = STATE_DIR / "admin.kubeconfig"
CONTAINERD_ROOT = STATE_DIR / "containerd"
IMAGES_MARK_DIR = STATE_DIR / "images"
# Removed by `down`: the cluster's data, so every `up` starts an empty cluster.
ETCD_DATA = STATE_DIR / "etcd"
CNI_DATA = STATE_DIR / "cni"
CNI_CONF_DIR = ETC_DIR / "cni"
# The kubelet keeps the default root so CSI drivers' default host paths work.
KUBELET_ROOT = Path("/var/lib/kubelet")
RUN_DIR = Path("/run/labcluster")
PID_DIR = RUN_DIR / "pids"
CONTAINERD_STATE = RUN_DIR / "containerd"
CONTAINERD_SOCKET = RUN_DIR / "containerd.sock"
RUNC_ROOT = RUN_DIR / "runc"
NETNS_DIR = Path("/run/netns")

CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labcluster"

NODE_NAME = "labcluster"
CLUSTER_CIDR = "10.244.0.0/16"
POD_CIDR = "10.244.0.0/24"
POD_GATEWAY = "10.244.0.1"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
# Names of the cluster's own host objects, so `down` never touches another cluster's.
BRIDGE = "labcni0"
CGROUP_PARENT = "labcluster"
CNI_NETWORK = "labcluster"
API_PORT = 6443
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380


def write_if_changed(path: Path, text: str) -> None:
    """Running daemons watch their config files (kube-proxy exits when its file is rewritten),
    so an idempotent `up` on a running cluster must leave identical files untouched."""
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
