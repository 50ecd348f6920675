"""The S3 stack's pins, read from the repository's one ``versions.env``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from s3stack.layout import MOUNT_S3_CRATE
from stackbase.ui import ToolError
from stackbase.versions import load_pins


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    csi_driver: str
    mountpoint_s3_fs: str
    versitygw: str
    debian_packages: tuple[str, ...]


def load() -> Versions:
    pins = load_pins()
    versions = Versions(
        kubernetes=pins.need("KUBERNETES_VERSION"),
        csi_driver=pins.need("MOUNTPOINT_S3_CSI_DRIVER_VERSION"),
        mountpoint_s3_fs=pins.need("MOUNTPOINT_S3_FS_VERSION"),
        versitygw=pins.need("VERSITYGW_VERSION"),
        debian_packages=pins.names("S3STACK_DEBIAN_PACKAGES"),
    )
    check_crate_pin(versions)
    return versions


def check_crate_pin(versions: Versions) -> None:
    """The crate's Cargo.toml must pin exactly the library version that versions.env names."""
    manifest = (MOUNT_S3_CRATE / "Cargo.toml").read_text()
    match = re.search(r'^mountpoint-s3-fs\s*=\s*"=([^"]+)"', manifest, re.MULTILINE)
    if not match or match.group(1) != versions.mountpoint_s3_fs:
        found = match.group(1) if match else "no exact pin"
        raise ToolError(
            f"s3stack/mount-s3/Cargo.toml pins mountpoint-s3-fs {found} but versions.env says "
            f"MOUNTPOINT_S3_FS_VERSION={versions.mountpoint_s3_fs}: make them equal"
        )
