"""The host's state around the cluster: `up` refuses what it did not make, and records what
it changes, so that `down` removes only its own objects and restores the rest as it was.

Names that are the cluster's own (bridge, cgroup parent, state and run directories) need no
record. Some names are Kubernetes' and fixed: the kubelet's root directory (CSI drivers
expect the default), kube-proxy's KUBE- chains, the CNI plugins' CNI- chains and cni-
network namespaces. Those are the cluster's only when they were absent before the first
`up`; the record says so, and `down` touches them only then.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from localcluster.layout import CGROUP_PARENT, KUBELET_ROOT, NETNS_DIR, STATE_DIR
from stackbase.sysctl import KUBELET_TUNABLES, read_sysctls, write_sysctls
from stackbase.ui import ToolError

RECORD = STATE_DIR / "host.json"
CGROUP_MOUNT = Path("/sys/fs/cgroup")
SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
    "net/bridge/bridge-nf-call-ip6tables": "1",
}
# Chains that kube-proxy, the kubelet and the CNI plugins create.
KUBE_CHAIN = re.compile(r"\b(KUBE-[A-Z0-9-]+|CNI-[A-Za-z0-9-]+)\b")


@dataclass
class Record:
    """What was there before the first `up`, and what `up` changed."""

    sysctls: dict[str, str] = field(default_factory=dict)  # key -> value before
    root_shared: bool = True  # was / a shared mount before
    made_kubelet_root: bool = False
    made_chains: bool = False
    netns_before: list[str] = field(default_factory=list)

    def owns_netns(self, name: str) -> bool:
        return name.startswith("cni-") and name not in self.netns_before


def load() -> Record | None:
    try:
        return Record(**json.loads(RECORD.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as err:
        raise ToolError(f"{RECORD} is not readable ({err}): restore it, or remove it only if nothing of the cluster runs") from None


def owns_kubelet_root() -> bool:
    """Whether the kubelet's root directory is this cluster's (absent before its first `up`):
    only then is what is mounted under it the cluster's."""
    record = load()
    return bool(record and record.made_kubelet_root)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True)


def kube_chain_lines() -> list[str]:
    lines = []
    for save in ("iptables-save", "ip6tables-save"):
        with contextlib.suppress(FileNotFoundError):
            lines += [line for line in _run(save).stdout.splitlines() if KUBE_CHAIN.search(line)]
    return lines


def other_kubelets(own: int | None) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != own:
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "kubelet":
                    found.append(int(entry.name))
    return found


def root_is_shared() -> bool:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            return any(f.startswith("shared:") for f in fields[6 : fields.index("-")])
    return False


def netns_names() -> list[str]:
    return sorted(p.name for p in NETNS_DIR.glob("cni-*")) if NETNS_DIR.is_dir() else []


def foreign(own_kubelet: int | None) -> list[str]:
    """What another Kubernetes (or a CNI user) left on the host that `down` would destroy."""
    found = []
    pids = other_kubelets(own_kubelet)
    if pids:
        found.append(f"a kubelet it did not start runs (pid {', '.join(map(str, pids))})")
    if KUBELET_ROOT.exists():
        found.append(f"{KUBELET_ROOT} exists")
    chains = kube_chain_lines()
    if chains:
        found.append(f"{len(chains)} KUBE-/CNI- iptables lines exist, e.g. {chains[0]!r}")
    return found


def begin(own_kubelet: int | None) -> Record:
    """The record of this cluster's host changes: the existing one (an `up` not yet brought
    down), or a new one taken now; refuses, in one line, a host with another Kubernetes."""
    record = load()
    if record is not None:
        return record
    found = foreign(own_kubelet)
    if found:
        raise ToolError(
            "the host has Kubernetes state localcluster did not make, which `down` would destroy: "
            + "; ".join(found)
            + " (stop that cluster, or run on another machine)"
        )
    record = Record(
        sysctls=read_sysctls([*SYSCTLS, *KUBELET_TUNABLES]),  # before the kubelet first starts
        root_shared=root_is_shared(),
        made_kubelet_root=True,
        made_chains=True,
        netns_before=netns_names(),
    )
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    RECORD.write_text(json.dumps(asdict(record), indent=2) + "\n")
    return record


def restore(record: Record) -> list[str]:
    """Sysctls and the root mount's propagation as they were; what could not be restored."""
    failed = write_sysctls(record.sysctls)
    if not record.root_shared and root_is_shared():
        result = _run("mount", "--make-private", "/")
        if result.returncode != 0:
            failed.append(f"mount --make-private / ({result.stderr.strip()})")
    return failed


def finish() -> None:
    RECORD.unlink(missing_ok=True)


def hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy (v1 controllers, the named systemd one, unified)."""
    if (CGROUP_MOUNT / "cgroup.controllers").exists():
        return [CGROUP_MOUNT]  # cgroup v2 only
    return sorted(p for p in CGROUP_MOUNT.iterdir() if p.is_dir() and not p.is_symlink())


def make_cgroup_parent() -> None:
    """The kubelet's cgroupRoot, in every hierarchy (the kubelet checks it exists)."""
    for hierarchy in hierarchies():
        parent = hierarchy / CGROUP_PARENT
        parent.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):  # a new v1 cpuset starts empty
            mine, root = parent / name, hierarchy / name
            if mine.exists() and not mine.read_text().strip():
                mine.write_text(root.read_text())


def remove_cgroup_parent() -> list[str]:
    """Remove the (empty) cgroups under the parent, deepest first; what is left."""
    left = []
    for hierarchy in hierarchies():
        parent = hierarchy / CGROUP_PARENT
        if not parent.is_dir():
            continue
        for directory in sorted((p for p in parent.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            parent.rmdir()
        if parent.exists():
            left.append(str(parent))
    return left
