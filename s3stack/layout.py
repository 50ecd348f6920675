"""Where everything lives, and the fixed network plan of the S3 server."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
MOUNT_S3_CRATE = PACKAGE_DIR / "mount-s3"
GO_SRC = PACKAGE_DIR / "gosrc"


def find_kubectl() -> Path | None:
    """The kubectl wheel beside the running Python (a tox env), else one of the checkout's tox
    environments (the README's `python3 -m s3stack` runs the system Python), else PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    candidates = [beside, *sorted((REPO_ROOT / ".tox").glob("*/bin/kubectl"))]
    found = next((p for p in candidates if p.is_file()), None)
    on_path = shutil.which("kubectl")
    return found or (Path(on_path) if on_path else None)


KUBECTL_MISSING = "no kubectl: run `.venv/bin/tox -e localcluster --notest` once (its environment has kubectl), or put kubectl on PATH"

CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "s3stack"
CARGO_TARGET_DIR = CACHE_DIR / "cargo-target"
IMAGES_DIR = CACHE_DIR / "images"

STATE_DIR = Path(os.environ.get("S3STACK_STATE_DIR", "/var/lib/s3stack"))
CREDENTIALS_FILE = STATE_DIR / "credentials.env"
DATA_DIR = STATE_DIR / "data"
LOG_DIR = STATE_DIR / "logs"
SERVER_LOG = LOG_DIR / "versitygw.log"
# No access log: versitygw's names each request's access key ID.
SERVER_PID = STATE_DIR / "versitygw.pid"
RENDERED_MANIFEST = STATE_DIR / "driver.yaml"
CHART_VALUES = STATE_DIR / "values.json"
SECRET_MARK = STATE_DIR / "secret.digest"
SYSTEMD_DIR_MARK = STATE_DIR / "created-run-systemd"

# The S3 server lives in its own network namespace, reached over a veth pair; the node's pods
# reach it through the host, which routes (IPv4 forwarding) between cni0 and the veth.
NETNS = "labs3"
VETH_HOST = "labs3h"
VETH_NS = "labs3n"
HOST_ADDRESS = "10.99.0.1"
SERVER_ADDRESS = "10.99.0.2"
PREFIX_LENGTH = 30
SERVER_PORT = 7070
ENDPOINT = f"http://{SERVER_ADDRESS}:{SERVER_PORT}"
REGION = "us-east-1"
IPTABLES_COMMENT = "s3stack"

# The driver as the chart installs it.
DRIVER_NAME = "s3.csi.aws.com"
DRIVER_NAMESPACE = "kube-system"
RELEASE_NAME = "aws-mountpoint-s3-csi-driver"
MOUNTPOINT_NAMESPACE = "mount-s3"
CREDENTIALS_SECRET = "aws-secret"
# The chart's node DaemonSet mounts /run/systemd (type Directory) even with the pod mounter;
# this machine has no systemd, so `up` creates the empty directory and `down` removes it.
RUN_SYSTEMD = Path("/run/systemd")
