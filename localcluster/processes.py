"""Background daemons with pid files and log files (this machine has no systemd)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from localcluster.layout import LOG_DIR, PID_DIR
from localcluster.ui import ClusterError


@dataclass(frozen=True)
class Daemon:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid_file(self) -> Path:
        return PID_DIR / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return LOG_DIR / f"{self.name}.log"


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


def pid_of(name: str) -> int | None:
    """The pid recorded for `name`, if that process still runs the same program."""
    pid_file = PID_DIR / f"{name}.pid"
    try:
        pid_text, _, program = pid_file.read_text().partition("\n")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    argv = cmdline(pid)
    if not argv or exited(pid) or argv[0] != program.strip():
        return None
    return pid


def start(daemon: Daemon) -> int:
    """Start `daemon` unless it already runs; returns its pid."""
    running = pid_of(daemon.name)
    if running is not None:
        return running
    PID_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with daemon.log_file.open("a") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(daemon.argv)}\n")
        log.flush()
        process = subprocess.Popen(
            daemon.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **daemon.env},
            start_new_session=True,
        )
    daemon.pid_file.write_text(f"{process.pid}\n{daemon.argv[0]}\n")
    # /proc/PID/cmdline can still show this (forking) program for a moment after exec.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and process.poll() is None and pid_of(daemon.name) is None:
        time.sleep(0.02)
    return process.pid


def ensure_alive(daemon: Daemon) -> None:
    if pid_of(daemon.name) is None:
        raise ClusterError(f"{daemon.name} exited: read the end of {daemon.log_file} for the cause")


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


def stop(name: str, timeout: float = 15.0) -> bool:
    """Stop the daemon `name` if it runs; True if it was running."""
    pid = pid_of(name)
    (PID_DIR / f"{name}.pid").unlink(missing_ok=True)
    if pid is None:
        return False
    if not signal_and_wait(pid, timeout):
        raise ClusterError(f"{name} (pid {pid}) did not stop after SIGKILL: check `ps -p {pid}`")
    return True


def processes_matching(needle: str) -> list[int]:
    """Pids whose command line contains `needle` (used to find containerd shims of ours)."""
    found = []
    for entry in Path("/proc").iterdir():
        pid = int(entry.name) if entry.name.isdigit() else 0
        if pid and pid != os.getpid() and any(needle in part for part in cmdline(pid)):
            found.append(pid)
    return found
