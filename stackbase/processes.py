"""Reading and stopping processes through /proc: what a tool needs to tell its own daemon from
whatever reused its pid, and to know when it is gone."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def cmdline(pid: int) -> list[str]:
    """A process's argv from /proc, empty when it is gone (or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def exited(pid: int) -> bool:
    """Gone, or a zombie (dead, its status not yet collected). Not an empty command line: a
    process has one while it exits, before it is a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def signal_and_wait(pid: int, timeout: float) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True once the process is gone."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not cmdline(pid) or exited(pid):
                return True
            time.sleep(0.1)
    return False


def processes_matching(needle: str) -> list[int]:
    """Pids whose command line contains `needle` (e.g. a daemon's shims, by its socket's path)."""
    found = []
    for entry in Path("/proc").iterdir():
        pid = int(entry.name) if entry.name.isdigit() else 0
        if pid and pid != os.getpid() and any(needle in part for part in cmdline(pid)):
            found.append(pid)
    return found
