"""Checks before `up`: root, FUSE, free ports, and the Debian packages (installed if missing)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from localcluster.layout import API_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT
from localcluster.processes import pid_of
from localcluster.versions import Versions
from stackbase.ui import Progress, ToolError, warn

# What each daemon listens on: (address, port); "" is every address.
PORTS: dict[str, list[tuple[str, int]]] = {
    "etcd": [("127.0.0.1", ETCD_CLIENT_PORT), ("127.0.0.1", ETCD_PEER_PORT)],
    "kube-apiserver": [("", API_PORT)],
    "kube-controller-manager": [("127.0.0.1", 10257)],
    "kube-scheduler": [("127.0.0.1", 10259)],
    "kubelet": [("", 10250), ("127.0.0.1", 10248)],
    "kube-proxy": [("127.0.0.1", 10256), ("127.0.0.1", 10249)],
}
# A file each package installs, to tell whether it is there.
PROVIDES = {
    "containerd": "/usr/bin/containerd",
    "runc": "/usr/sbin/runc",
    "containernetworking-plugins": "/usr/lib/cni/bridge",
    "iptables": "/usr/sbin/iptables",
    "conntrack": "/usr/sbin/conntrack",
    "socat": "/usr/bin/socat",
    "ipset": "/sbin/ipset",
    "ethtool": "/sbin/ethtool",
    "busybox-static": "/bin/busybox",
    "bash-static": "/bin/bash-static",
    "openssl": "/usr/bin/openssl",
}


def require_root() -> None:
    if os.geteuid() != 0:
        raise ToolError("not root: run `sudo python3 -m localcluster ...` (the cluster needs mounts and iptables)")


def require_fuse() -> None:
    if not Path("/dev/fuse").exists():
        raise ToolError("/dev/fuse is missing: load the fuse module (modprobe fuse) or run on a host with FUSE")


def missing_packages(versions: Versions) -> list[str]:
    missing = []
    for package in versions.debian_packages:
        marker = PROVIDES.get(package)
        if marker is not None:
            installed = Path(marker).exists()
        else:
            installed = subprocess.run(["dpkg", "-s", package], capture_output=True).returncode == 0
        if not installed:
            missing.append(package)
    return missing


def install_packages(versions: Versions, progress: Progress) -> None:
    missing = missing_packages(versions)
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise ToolError(f"packages missing ({', '.join(missing)}) and no apt-get: install them by hand")
    progress.note(f"apt-get install {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(command, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ToolError(f"apt-get install {' '.join(missing)} failed: {result.stderr.strip()[-300:]}")


def check_versions(versions: Versions) -> None:
    found = subprocess.run(["containerd", "--version"], capture_output=True, text=True).stdout
    if versions.containerd not in found:
        warn(f"containerd is not {versions.containerd} (versions.env): {found.strip()}")
    found = subprocess.run(["runc", "--version"], capture_output=True, text=True).stdout
    if versions.runc not in found:
        warn(f"runc is not {versions.runc} (versions.env): {found.splitlines()[0] if found else 'none'}")


def port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def check_ports() -> None:
    for daemon, ports in PORTS.items():
        if pid_of(daemon) is not None:
            continue
        for address, port in ports:
            if not port_free(address, port):
                raise ToolError(
                    f"port {port} is busy (needed by {daemon}): stop what listens there "
                    f"(`ss -ltnp 'sport = :{port}'`) or run `python3 -m localcluster down`"
                )


def preflight(versions: Versions, progress: Progress) -> None:
    require_root()
    require_fuse()
    install_packages(versions, progress)
    check_versions(versions)
    check_ports()
