"""Where everything lives."""

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
SYSTEMD_DIR_MARK = STATE_DIR / "created-run-systemd"

# The chart's node DaemonSet mounts /run/systemd (type Directory) even with the pod mounter;
# this machine has no systemd, so `load` creates the empty directory and `down` removes it.
RUN_SYSTEMD = Path("/run/systemd")
