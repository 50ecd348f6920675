"""The S3 server: versitygw (posix backend) in network namespace ``labs3``, plain HTTP on
``10.99.0.2:7070``, with credentials generated here and kept in a 0600 file.

The host reaches the namespace over a veth pair (10.99.0.1/30 <-> 10.99.0.2/30); pods reach it
through the host, which forwards between the pod bridge and the veth (the namespace's default
route points back at the host). The credentials go to the server through its environment and to
the cluster through a Secret read from stdin: they never appear on a command line or in output.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import string
import subprocess
import time
from pathlib import Path

from s3stack.layout import (
    CREDENTIALS_FILE,
    DATA_DIR,
    ENDPOINT,
    HOST_ADDRESS,
    IPTABLES_COMMENT,
    LOG_DIR,
    NETNS,
    PREFIX_LENGTH,
    REGION,
    SERVER_ADDRESS,
    SERVER_LOG,
    SERVER_PID,
    SERVER_PORT,
    STATE_DIR,
    VETH_HOST,
    VETH_NS,
)
from s3stack.shell import run
from s3stack.ui import Progress, StackError, warn

START_TIMEOUT = 30.0
# FORWARD rules between the host side of the veth and anything else, tagged for removal.
FORWARD_RULES = (("-i", VETH_HOST), ("-o", VETH_HOST))


def credentials() -> dict[str, str]:
    """The server's credentials, generated once (file mode 0600) and kept across restarts."""
    if CREDENTIALS_FILE.is_file():
        values = {}
        for line in CREDENTIALS_FILE.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.startswith("#"):
                values[key.strip()] = value.strip()
        if values.get("AWS_ACCESS_KEY_ID") and values.get("AWS_SECRET_ACCESS_KEY"):
            return values
    STATE_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    access = "LAB" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(17))
    secret = secrets.token_urlsafe(30)[:40]
    values = {
        "AWS_ACCESS_KEY_ID": access,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "S3_ENDPOINT": ENDPOINT,
    }
    text = "# Written by python3 -m s3stack: the local S3 server's credentials. Do not print.\n"
    text += "".join(f"{key}={value}\n" for key, value in values.items())
    descriptor = os.open(CREDENTIALS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    os.chmod(CREDENTIALS_FILE, 0o600)
    return values


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["ip", *args], check=check)


def _in_ns(*args: str) -> None:
    run(["ip", "netns", "exec", NETNS, *args])


def netns_exists() -> bool:
    return NETNS in _ip("netns", "list", check=False).stdout.split()


def _iptables_rule(action: str, direction: tuple[str, str]) -> list[str]:
    return ["iptables", action, "FORWARD", *direction, "-m", "comment", "--comment", IPTABLES_COMMENT, "-j", "ACCEPT"]


def setup_network() -> None:
    """Namespace, veth pair, addresses, routes, forwarding: idempotent."""
    run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    if not netns_exists():
        _ip("netns", "add", NETNS)
    if _ip("link", "show", VETH_HOST, check=False).returncode != 0:
        _ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
        _ip("link", "set", VETH_NS, "netns", NETNS)
    if f"{HOST_ADDRESS}/" not in _ip("-4", "addr", "show", "dev", VETH_HOST).stdout:
        _ip("addr", "add", f"{HOST_ADDRESS}/{PREFIX_LENGTH}", "dev", VETH_HOST)
    _ip("link", "set", VETH_HOST, "up")
    inside = run(["ip", "netns", "exec", NETNS, "ip", "-4", "addr", "show", "dev", VETH_NS]).stdout
    if f"{SERVER_ADDRESS}/" not in inside:
        _in_ns("ip", "addr", "add", f"{SERVER_ADDRESS}/{PREFIX_LENGTH}", "dev", VETH_NS)
    _in_ns("ip", "link", "set", "lo", "up")
    _in_ns("ip", "link", "set", VETH_NS, "up")
    _in_ns("ip", "route", "replace", "default", "via", HOST_ADDRESS)
    for direction in FORWARD_RULES:
        if run(_iptables_rule("-C", direction), check=False).returncode != 0:
            run(_iptables_rule("-I", direction))


def teardown_network() -> None:
    for direction in FORWARD_RULES:
        while run(_iptables_rule("-C", direction), check=False).returncode == 0:
            run(_iptables_rule("-D", direction), check=False)
    if _ip("link", "show", VETH_HOST, check=False).returncode == 0:
        _ip("link", "delete", VETH_HOST, check=False)
    if netns_exists():
        _ip("netns", "delete", NETNS, check=False)


def leftovers() -> list[str]:
    """What of the server and its network is still there (empty after a clean `stop`)."""
    found = []
    pid = server_pid()
    if pid is not None:
        found.append(f"versitygw running (pid {pid})")
    if netns_exists():
        found.append(f"network namespace {NETNS}")
    if _ip("link", "show", VETH_HOST, check=False).returncode == 0:
        found.append(f"interface {VETH_HOST}")
    rules = [d for d in FORWARD_RULES if run(_iptables_rule("-C", d), check=False).returncode == 0]
    if rules:
        found.append(f"{len(rules)} FORWARD rules commented {IPTABLES_COMMENT}")
    return found


def server_pid() -> int | None:
    try:
        pid = int(SERVER_PID.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    if not any(part.endswith(b"versitygw") for part in cmdline) or stat.rsplit(")", 1)[1].split()[0] == "Z":
        return None
    return pid


def reachable(timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((SERVER_ADDRESS, SERVER_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def start(versitygw: Path, progress: Progress) -> None:
    """Start the server if it is not running; wait until it accepts connections."""
    creds = credentials()
    setup_network()
    if server_pid() is not None and reachable():
        progress.note(f"S3 server already running (pid {server_pid()})")
        return
    DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "ROOT_ACCESS_KEY_ID": creds["AWS_ACCESS_KEY_ID"],
        "ROOT_SECRET_ACCESS_KEY": creds["AWS_SECRET_ACCESS_KEY"],
        "VGW_REGION": REGION,
        "VGW_PORT": f"{SERVER_ADDRESS}:{SERVER_PORT}",
    }
    command = ["ip", "netns", "exec", NETNS, str(versitygw), "posix", str(DATA_DIR)]
    with SERVER_LOG.open("a") as log:
        log.write(f"\n### {time.strftime('%Y-%m-%dT%H:%M:%S')} starting versitygw\n")
        log.flush()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    SERVER_PID.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = SERVER_LOG.read_text(errors="replace").splitlines()[-5:]
            raise StackError(f"versitygw exited with {process.returncode}: {' | '.join(tail)} (log {SERVER_LOG})")
        if reachable():
            progress.note(f"S3 server versitygw up at {ENDPOINT} (pid {process.pid}, data {DATA_DIR})")
            return
        time.sleep(0.5)
    raise StackError(f"versitygw did not accept connections on {SERVER_ADDRESS}:{SERVER_PORT} in {START_TIMEOUT:.0f}s: see {SERVER_LOG}")


def stop(progress: Progress, keep_data: bool = False) -> None:
    pid = server_pid()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while server_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.3)
        if server_pid() is not None:
            warn(f"versitygw (pid {pid}) ignored SIGTERM: killing it")
            os.kill(pid, signal.SIGKILL)
        progress.note(f"stopped the S3 server (pid {pid})")
    SERVER_PID.unlink(missing_ok=True)
    teardown_network()
    if not keep_data and DATA_DIR.is_dir():
        run(["rm", "-rf", "--one-file-system", str(DATA_DIR)])
