"""containerd: its configuration, and the `ctr` client pointed at our socket."""

from __future__ import annotations

import shutil
import subprocess

from localcluster.layout import (
    CNI_CONF_DIR,
    CONTAINERD_ROOT,
    CONTAINERD_SOCKET,
    CONTAINERD_STATE,
    ETC_DIR,
    RUNC_ROOT,
    write_if_changed,
)
from stackbase.ui import ToolError

CNI_BIN_DIR = "/usr/lib/cni"


def containerd_config(pause_image: str) -> str:
    runc = shutil.which("runc") or "/usr/sbin/runc"
    return f"""# Written by localcluster: containerd 1.6 with CRI for the local kubelet.
version = 2
root = "{CONTAINERD_ROOT}"
state = "{CONTAINERD_STATE}"
oom_score = 0

[grpc]
  address = "{CONTAINERD_SOCKET}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause_image}"
  # No CAP_SYS_RESOURCE here: never lower a container's oom_score_adj below ours.
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  max_container_log_line_size = 16384

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "{runc}"
  Root = "{RUNC_ROOT}"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{CNI_CONF_DIR}"
  max_conf_num = 1
"""


def write_config(pause_image: str) -> str:
    ETC_DIR.mkdir(parents=True, exist_ok=True)
    path = ETC_DIR / "containerd.toml"
    write_if_changed(path, containerd_config(pause_image))
    return str(path)


def ctr(*args: str, namespace: str = "k8s.io", check: bool = True, timeout: float = 120) -> str:
    """Run `ctr` against our containerd; returns stdout."""
    command = ["ctr", "--address", str(CONTAINERD_SOCKET), "--namespace", namespace, *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise ToolError("`ctr` is missing: apt-get install containerd") from None
    if check and result.returncode != 0:
        raise ToolError(f"`{' '.join(command)}` failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout
