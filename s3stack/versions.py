"""The S3 stack's pins, read from the repository's one ``versions.env``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from localcluster.layout import VERSIONS_FILE
from localcluster.ui import ClusterError
from localcluster.versions import parse
from s3stack.layout import MOUNT_S3_CRATE
from s3stack.ui import StackError


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    csi_driver: str
    mountpoint_s3_fs: str
    versitygw: str


def load(path: Path = VERSIONS_FILE) -> Versions:
    try:
        values = parse(path.read_text())
    except FileNotFoundError:
        raise StackError(f"{path} is missing: run from the repository checkout") from None
    except ClusterError as err:
        raise StackError(str(err)) from None

    def need(key: str) -> str:
        if not values.get(key):
            raise StackError(f"{path} has no {key}=...: add the pin")
        return values[key]

    versions = Versions(
        kubernetes=need("KUBERNETES_VERSION"),
        csi_driver=need("MOUNTPOINT_S3_CSI_DRIVER_VERSION"),
        mountpoint_s3_fs=need("MOUNTPOINT_S3_FS_VERSION"),
        versitygw=need("VERSITYGW_VERSION"),
    )
    check_crate_pin(versions)
    return versions


def check_crate_pin(versions: Versions) -> None:
    """The crate's Cargo.toml must pin exactly the library version that versions.env names."""
    manifest = (MOUNT_S3_CRATE / "Cargo.toml").read_text()
    match = re.search(r'^mountpoint-s3-fs\s*=\s*"=([^"]+)"', manifest, re.MULTILINE)
    if not match or match.group(1) != versions.mountpoint_s3_fs:
        found = match.group(1) if match else "no exact pin"
        raise StackError(
            f"s3stack/mount-s3/Cargo.toml pins mountpoint-s3-fs {found} but versions.env says "
            f"MOUNTPOINT_S3_FS_VERSION={versions.mountpoint_s3_fs}: make them equal"
        )
