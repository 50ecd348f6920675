"""Host networking: the node address, sysctls, the CNI config, and the clean-up that `down` does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from localcluster import host
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
from stackbase import sysctl
from stackbase.ui import ToolError, warn

# Where network namespaces are named (/var/run is /run on most hosts, not on all).
NETNS_DIRS = (NETNS_DIR, Path("/var/run/netns"))


def _run(*command: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(command), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise ToolError(f"`{' '.join(command)}` failed: {result.stderr.strip()}")
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
    raise ToolError("no non-loopback IPv4 address on this machine: set LABCLUSTER_NODE_IP to one of its addresses")


def prepare_host() -> None:
    """Sysctls, shared mount propagation (for Bidirectional CSI mounts), the pods' cgroup
    parent and the CNI config; `host.begin` has recorded what was there before."""
    for key, value in host.SYSCTLS.items():
        path = sysctl.PROC_SYS / key
        try:
            path.write_text(value)
        except OSError as error:
            if key == "net/ipv4/ip_forward":
                raise ToolError(f"cannot enable {key} ({error}): run as root on a machine with IPv4 forwarding") from None
            warn(f"cannot set {key} ({error}); pod-to-service traffic on the bridge may not work")
    _run("mount", "--make-rshared", "/", check=True)
    host.make_cgroup_parent()
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


def own_mounts(record: host.Record | None) -> list[str]:
    """Mount points of the cluster (pod volumes, container rootfs and shm, its netns), deepest first."""
    prefixes = [STATE_DIR, RUN_DIR, CONTAINERD_STATE] + ([KUBELET_ROOT] if record and record.made_kubelet_root else [])
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = Path(line.split()[4].encode().decode("unicode_escape"))
        in_netns = point.parent in NETNS_DIRS
        if any(point == p or p in point.parents for p in prefixes) or (in_netns and record and record.owns_netns(point.name)):
            points.append(str(point))
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def unmount_all(record: host.Record | None) -> list[str]:
    left = []
    for _ in range(3):
        left = own_mounts(record)
        for point in left:
            _run("umount", point)
        left = own_mounts(record)
        if not left:
            return []
        for point in left:
            _run("umount", "-l", point)
    return own_mounts(record)


def remove_netns(record: host.Record | None) -> None:
    """The network namespaces the cluster's CNI made (not ones that were there before it)."""
    for directory in NETNS_DIRS:
        if directory.is_dir() and record:
            for entry in directory.glob("cni-*"):
                if record.owns_netns(entry.name):
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
    """Drop the KUBE-/CNI- chains and every rule that lives in or jumps to one of them."""
    out, changed = [], False
    for line in dump.splitlines():
        if (line.startswith(":") or line.startswith("-A ")) and host.KUBE_CHAIN.search(line):
            changed = True
            continue
        out.append(line)
    return "\n".join(out) + "\n", changed


def clean_iptables(record: host.Record | None) -> None:
    """Only when the chains were the cluster's: absent before its first `up`."""
    if not (record and record.made_chains):
        return
    for save, restore in (("iptables-save", "iptables-restore"), ("ip6tables-save", "ip6tables-restore")):
        if not shutil.which(save):
            continue
        dump = _run(save).stdout
        cleaned, changed = _clean_table_dump(dump)
        if changed:
            result = subprocess.run([restore], input=cleaned, capture_output=True, text=True)
            if result.returncode != 0:
                warn(f"{restore} failed while removing KUBE-/CNI- chains: {result.stderr.strip()}")
