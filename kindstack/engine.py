"""Docker's engine: the one the user has, or one kindstack starts and stops.

The engine kindstack starts has its own roots and socket, leaves the host's iptables alone
(kind's nodes talk on their bridge; the API server is reached through Docker's port proxy), and
runs containers through labrunc, so that a privileged kind node starts on a kernel whose
capability bounding set lacks one that Docker grants.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kindstack.layout import DAEMON_JSON, DOCKER_DATA, DOCKER_EXEC, DOCKER_PID, DOCKER_SOCKET, ENGINE_LOG, RUN_DIR, STATE_DIR
from stackbase import processes
from stackbase.ui import Progress, ToolError, warn

START_SECONDS = 60.0
STOP_SECONDS = 60.0


@dataclass(frozen=True)
class Engine:
    host: str  # DOCKER_HOST for its clients ("" for the default socket)
    ours: bool

    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host} if self.host else {}

    def docker(self, *args: str, stdin: bytes | None = None, check: bool = True, timeout: float = 600) -> str:
        """Run `docker ARGS` against this engine; on failure raise with its last error line."""
        return self.output(*args, stdin=stdin, check=check, timeout=timeout).decode(errors="replace")

    def output(self, *args: str, stdin: bytes | None = None, check: bool = True, timeout: float = 600) -> bytes:
        """`docker ARGS`' output as bytes (a tar streamed out of a container)."""
        command = ["docker", *args]
        try:
            result = subprocess.run(command, input=stdin, capture_output=True, env={**os.environ, **self.env()}, timeout=timeout)
        except FileNotFoundError:
            raise ToolError("`docker` (the client) is missing: apt-get install docker.io") from None
        except subprocess.TimeoutExpired:
            raise ToolError(f"`{' '.join(command)}` did not finish in {timeout:.0f}s") from None
        if check and result.returncode != 0:
            lines = result.stderr.decode(errors="replace").strip().splitlines() or [f"exit {result.returncode}"]
            raise ToolError(f"`{' '.join(command[:4])} ...` failed: {lines[-1]}")
        return result.stdout


def _answers(env: dict[str, str]) -> bool:
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, env={**os.environ, **env}, timeout=20
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def users() -> Engine | None:
    """The engine the user's environment reaches (DOCKER_HOST or the default socket), if any."""
    if os.environ.get("DOCKER_HOST") == own().host:
        return None
    return Engine(os.environ.get("DOCKER_HOST", ""), ours=False) if _answers({}) else None


def own() -> Engine:
    return Engine(f"unix://{DOCKER_SOCKET}", ours=True)


def daemon_config(runtime: Path) -> dict[str, object]:
    return {
        "data-root": str(DOCKER_DATA),
        "exec-root": str(DOCKER_EXEC),
        "pidfile": str(DOCKER_PID),
        "hosts": [f"unix://{DOCKER_SOCKET}"],
        "iptables": False,
        "ip6tables": False,
        "ip-forward": False,
        "bridge": "none",
        "runtimes": {"labrunc": {"path": str(runtime)}},
        "default-runtime": "labrunc",
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "2"},
    }


def running() -> bool:
    return _pid() is not None


def _is_own_dockerd(cmdline: list[str]) -> bool:
    """A dockerd whose configuration names kindstack's pid file: one kindstack started (with
    any state directory), never the machine's own Docker or whatever reused the pid."""
    if not cmdline or Path(cmdline[0]).name != "dockerd":
        return False
    config = next((arg.split("=", 1)[1] for arg in cmdline if arg.startswith("--config-file=")), None)
    if config is None and "--config-file" in cmdline[:-1]:
        config = cmdline[cmdline.index("--config-file") + 1]
    try:
        return config is not None and json.loads(Path(config).read_text()).get("pidfile") == str(DOCKER_PID)
    except (OSError, ValueError, AttributeError):
        return False


def _pid() -> int | None:
    """The pid in the pid file, only while that process is kindstack's dockerd. A pid file can
    outlive its dockerd and the number pass to another process: that file is removed and the
    process never signalled."""
    try:
        pid = int(DOCKER_PID.read_text().strip())
    except (OSError, ValueError):
        return None
    cmdline = processes.cmdline(pid)
    if not cmdline:  # gone, or a zombie that `stop` reaps
        return None
    if _is_own_dockerd(cmdline):
        return pid
    shown = " ".join(cmdline)[:80]
    warn(f"{DOCKER_PID} names pid {pid}, which is not kindstack's dockerd ({shown}): removed that stale pid file, signalled nothing")
    DOCKER_PID.unlink(missing_ok=True)
    return None


def start(runtime: Path, progress: Progress) -> Engine:
    """Start the engine (or find it running from an earlier `up`); ready when `docker info` answers."""
    engine = own()
    if _pid() is not None and _answers(engine.env()):
        return engine
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    DAEMON_JSON.write_text(json.dumps(daemon_config(runtime), indent=2) + "\n")
    progress.note(f"starting Docker's engine on {DOCKER_SOCKET} (log {ENGINE_LOG})")
    with ENGINE_LOG.open("a") as log:
        # A session of its own: a Ctrl-C to the run's process group must not stop the engine
        # before kind has deleted its nodes.
        process = subprocess.Popen(
            ["dockerd", "--config-file", str(DAEMON_JSON)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = " | ".join(ENGINE_LOG.read_text(errors="replace").strip().splitlines()[-3:])
            raise ToolError(f"dockerd exited with {process.returncode} while starting: {tail} (log {ENGINE_LOG})")
        if _answers(engine.env()):
            return engine
        time.sleep(0.5)
    raise ToolError(f"dockerd did not answer on {DOCKER_SOCKET} within {START_SECONDS:.0f}s (log {ENGINE_LOG})")


def remove_all(engine: Engine) -> None:
    """Every container, user network and volume of the engine kindstack started (all of it is ours)."""
    containers = engine.docker("ps", "-aq").split()
    if containers:
        engine.docker("rm", "-f", "-v", *containers, timeout=300)
    networks = [n for n in engine.docker("network", "ls", "--format", "{{.Name}}").split() if n not in ("bridge", "host", "none")]
    if networks:
        engine.docker("network", "rm", *networks)
    engine.docker("volume", "prune", "-f")


def _mounts_under(roots: Sequence[Path]) -> list[str]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if any(point == str(root) or point.startswith(f"{root}/") for root in roots):
            found.append(point)
    return found


def _reap(pid: int) -> None:
    """Collect dockerd's exit status when this process started it (no zombie is left)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(progress: Progress) -> list[str]:
    """Remove what the engine holds but its images, stop it; what is left behind."""
    engine = own()
    pid = _pid()
    left: list[str] = []
    if pid is not None and _answers(engine.env()):
        remove_all(engine)
    if pid is not None:
        progress.note("stopping Docker's engine")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline and not processes.exited(pid):
            _reap(pid)
            time.sleep(0.5)
        _reap(pid)
        if not processes.exited(pid):
            left.append(f"dockerd (pid {pid}) still runs {STOP_SECONDS:.0f}s after SIGTERM")
    if not left:
        for point in sorted(_mounts_under([DOCKER_DATA, DOCKER_EXEC]), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        left += [f"mount {point}" for point in _mounts_under([DOCKER_DATA, DOCKER_EXEC])]
        if not left:
            with contextlib.suppress(OSError):
                DOCKER_SOCKET.unlink(missing_ok=True)
    return left
