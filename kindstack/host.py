"""The host's kernel tunables around kind's nodes.

A kind node is a privileged container sharing the host's kernel: its kubelet writes the
kernel.* and vm.* values it wants (stackbase.sysctl.KUBELET_TUNABLES), and its systemd
applies the node's sysctl.d files, all host-wide. `up` records them before the engine or any
node starts, in a file of the state directory so that a `down` from a later process finds it;
`down` writes them back once no node runs.
"""

from __future__ import annotations

import json
import os

from kindstack.layout import STATE_DIR
from stackbase import sysctl
from stackbase.ui import warn

RECORD = STATE_DIR / "host.json"
# What the node's systemd-sysctl applies from the Debian packages in the node image
# (systemd's 50-pid-max.conf, procps' 99-protect-links.conf); kernel.pid_max is host-wide on
# all but recent kernels.
NODE_SYSCTLS = (
    "kernel/pid_max",
    "fs/protected_fifos",
    "fs/protected_hardlinks",
    "fs/protected_regular",
    "fs/protected_symlinks",
)


def begin() -> None:
    """Record the values now, unless an `up` not yet brought down already did (its record
    holds the values from before that cluster)."""
    if RECORD.is_file():
        return
    if os.geteuid() != 0:
        warn("not root: kind's nodes may change the host's kernel.*, vm.* and fs.* tunables and `down` cannot put them back")
        return
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    values = sysctl.read_sysctls([*sysctl.KUBELET_TUNABLES, *NODE_SYSCTLS])
    RECORD.write_text(json.dumps({"sysctls": values}, indent=2) + "\n")


def restore() -> list[str]:
    """Write the recorded values back; what could not be. The record stays until `finish`."""
    try:
        values = json.loads(RECORD.read_text())
    except FileNotFoundError:
        return []
    except ValueError as err:
        values = {"error": str(err)}
    if not isinstance(values, dict) or not isinstance(values.get("sysctls"), dict):
        return [f"{RECORD} is not readable: put back by hand the values it held, then remove it"]
    return sysctl.write_sysctls(values["sysctls"])


def finish() -> None:
    RECORD.unlink(missing_ok=True)
