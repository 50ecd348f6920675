"""Host networking: the node address, sysctls, the CNI config, and the clean-up that `down` does."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from localcluster.layout import (
    BRIDGE,
    CNI_CONF_DIR,
    CNI_DATA,
    CNI_NETWORK,
    CONTAINERD_STATE,
    KUBELET_ROOT,
    NETNS_DIR,
    POD_CIDR,
    POD_GATEWAY,
    RUN_DIR,
    STATE_DIR,
    write_if_changed,
)
from localcluster.ui import ClusterError, warn

SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
    "net/bridge/bridge-nf-call-ip6tables": "1",
}
# Chains that kube-proxy, the kubelet and the CNI plugins create.
OWN_CHAIN = re.compile(r"\b(KUBE-[A-Z0-9-]+|CNI-[A-Za-z0-9-]+)\b")


def _run(*command: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(command), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise ClusterError(f"`{' '.join(command)}` failed: {result.stderr.strip()}")
    return result


def node_ip() -> str:
    """The IPv4 address of the default-route interface (or $LABCLUSTER_NODE_IP)."""
    if os.environ.get("LABCLUSTER_NODE_IP"):
        return os.environ["LABCLUSTER_NODE_IP"]
    route = _run("ip", "-4", "-o", "route", "show", "default").stdout.split()
    device = route[route.index("dev") + 1] if "dev" in route else None
    args = ["ip", "-4", "-o", "addr", "show", "scope", "global"] + (["dev", device] if device else [])
    for line in _run(*args).stdout.splitlines():
        match = re.search(r"\binet (\d+\.\d+\.\d+\.\d+)/", line)
        if match and not line.split()[1].startswith(BRIDGE):
            return match.group(1)
    raise ClusterError("no non-loopback IPv4 address on this machine: set LABCLUSTER_NODE_IP to one of its addresses")


def prepare_host() -> None:
    """Sysctls, shared mount propagation (for Bidirectional CSI mounts) and the CNI config."""
    for key, value in SYSCTLS.items():
        path = Path("/proc/sys") / key
        try:
            path.write_text(value)
        except OSError as error:
            if key == "net/ipv4/ip_forward":
                raise ClusterError(f"cannot enable {key} ({error}): run as root on a machine with IPv4 forwarding") from None
            warn(f"cannot set {key} ({error}); pod-to-service traffic on the bridge may not work")
    _run("mount", "--make-rshared", "/", check=True)
    write_cni_config()


def write_cni_config() -> None:
    CNI_CONF_DIR.mkdir(parents=True, exist_ok=True)
    config = {
        "cniVersion": "0.4.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                # Pods talk only to this machine: no NAT to the outside.
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(CNI_DATA),
                    "ranges": [[{"subnet": POD_CIDR, "gateway": POD_GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    write_if_changed(CNI_CONF_DIR / "10-labcluster.conflist", json.dumps(config, indent=2) + "\n")


def own_mounts() -> list[str]:
    """Mount points of the cluster (pod volumes, container rootfs and shm, netns), deepest first."""
    prefixes = [
        str(KUBELET_ROOT),
        str(STATE_DIR),
        str(RUN_DIR),
        str(CONTAINERD_STATE),
        f"{NETNS_DIR}/cni-",
        f"/var{NETNS_DIR}/cni-",
    ]
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if any(point == p.rstrip("/") or point.startswith(p if p.endswith("-") else p + "/") for p in prefixes):
            points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def unmount_all() -> list[str]:
    left = []
    for _ in range(3):
        left = own_mounts()
        for point in left:
            _run("umount", point)
        left = own_mounts()
        if not left:
            return []
        for point in left:
            _run("umount", "-l", point)
    return own_mounts()


def remove_netns() -> None:
    for directory in (NETNS_DIR, Path("/var/run/netns")):
        if directory.is_dir():
            for entry in directory.glob("cni-*"):
                entry.unlink(missing_ok=True)


def bridge_links() -> list[str]:
    """The bridge and any veth still attached to it."""
    names = []
    for line in _run("ip", "-o", "link", "show").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name == BRIDGE or f" master {BRIDGE} " in line:
            names.append(name)
    return names


def delete_links() -> None:
    for name in bridge_links():
        _run("ip", "link", "delete", name)


def _clean_table_dump(dump: str) -> tuple[str, bool]:
    """Drop our chains and every rule that lives in or jumps to one of them."""
    out, changed = [], False
    for line in dump.splitlines():
        if (line.startswith(":") or line.startswith("-A ")) and OWN_CHAIN.search(line):
            changed = True
            continue
        out.append(line)
    return "\n".join(out) + "\n", changed


def clean_iptables() -> None:
    for save, restore in (("iptables-save", "iptables-restore"), ("ip6tables-save", "ip6tables-restore")):
        if not shutil.which(save):
            continue
        dump = _run(save).stdout
        cleaned, changed = _clean_table_dump(dump)
        if changed:
            result = subprocess.run([restore], input=cleaned, capture_output=True, text=True)
            if result.returncode != 0:
                warn(f"{restore} failed while removing KUBE-/CNI- chains: {result.stderr.strip()}")


def own_iptables_lines() -> int:
    count = 0
    for save in ("iptables-save", "ip6tables-save"):
        if shutil.which(save):
            count += sum(1 for line in _run(save).stdout.splitlines() if OWN_CHAIN.search(line))
    return count


def remove_pod_cgroups() -> None:
    """Remove the kubelet's (empty) kubepods cgroups, deepest first."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        root = hierarchy / "kubepods"
        if not root.is_dir():
            continue
        for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            root.rmdir()
