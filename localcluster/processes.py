"""Background daemons with pid files and log files (this machine has no systemd)."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from localcluster.layout import LOG_DIR, PID_DIR
from stackbase.processes import cmdline, exited, signal_and_wait
from stackbase.ui import ToolError


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
        raise ToolError(f"{daemon.name} exited: read the end of {daemon.log_file} for the cause")


def stop(name: str, timeout: float = 15.0) -> bool:
    """Stop the daemon `name` if it runs; True if it was running."""
    pid = pid_of(name)
    (PID_DIR / f"{name}.pid").unlink(missing_ok=True)
    if pid is None:
        return False
    if not signal_and_wait(pid, timeout):
        raise ToolError(f"{name} (pid {pid}) did not stop after SIGKILL: check `ps -p {pid}`")
    return True
