"""Host-wide kernel tunables that a kubelet changes: read before a cluster starts, written back
after it is gone (localcluster's kubelet, and kind's nodes, which share the host's kernel)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

PROC_SYS = Path("/proc/sys")
# What a kubelet writes at start unless protectKernelDefaults is set (setupKernelTunables in
# k8s.io/kubernetes pkg/kubelet/cm), with its values. They are host-wide, not namespaced: a kind
# node's kubelet, privileged, writes the host's own. Both tools record them and put them back.
KUBELET_TUNABLES = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}


def read_sysctls(keys: Iterable[str]) -> dict[str, str]:
    """The values now, of those keys this kernel has."""
    return {key: (PROC_SYS / key).read_text().strip() for key in keys if (PROC_SYS / key).exists()}


def write_sysctls(values: dict[str, str]) -> list[str]:
    """Write back the values that changed (an unchanged one is not written, so a read-only
    /proc/sys fails only where something did change it); what could not be written."""
    failed = []
    for key, value in values.items():
        path = PROC_SYS / key
        try:
            if path.read_text().strip() != value:
                path.write_text(value)
        except OSError as err:
            failed.append(f"sysctl {key.replace('/', '.')}={value} ({err.strerror or err})")
    return failed
