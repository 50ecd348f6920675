"""Where everything lives."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
GO_SRC = PACKAGE_DIR / "gosrc"

CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kindstack"
BIN_DIR = CACHE_DIR / "bin"
ROOTFS_DIR = CACHE_DIR / "rootfs"
IMAGES_DIR = CACHE_DIR / "images"
LOG = CACHE_DIR / "build.log"

# The engine kindstack starts when no Docker engine is reachable: its own roots and socket,
# so it never meets a Docker the machine may have. Images stay in its data root (the cache of
# warm runs); containers, networks and volumes go at `down`.
STATE_DIR = Path(os.environ.get("KINDSTACK_STATE_DIR", "/var/lib/kindstack"))
DOCKER_DATA = STATE_DIR / "docker"
DAEMON_JSON = STATE_DIR / "daemon.json"
ENGINE_LOG = STATE_DIR / "dockerd.log"
RUN_DIR = Path("/run/kindstack")
DOCKER_EXEC = RUN_DIR / "docker"
DOCKER_SOCKET = RUN_DIR / "docker.sock"
DOCKER_PID = RUN_DIR / "docker.pid"

# Names of what kindstack builds: images that exist only on this machine.
NODE_IMAGE_REPO = "localhost/kindstack/node"
RELEASE_NODE_IMAGE_REPO = "localhost/kindstack/release-node"  # kind's build from a release's binaries
ROOTFS_IMAGE_REPO = "localhost/kindstack/rootfs"
LABNET_IMAGE_REPO = "localhost/kindstack/labnet"
