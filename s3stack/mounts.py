"""Mountpoint's FUSE mounts on this host (file system name ``mountpoint-s3``)."""

from __future__ import annotations

from pathlib import Path

from localcluster import KUBELET_ROOT, owns_kubelet_root
from stackbase.shell import run


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def fuse_mounts() -> list[str]:
    """Mount points of the local cluster's Mountpoint file systems (under its kubelet root, when
    localcluster made that root; another cluster's are not ours), deepest first."""
    if not owns_kubelet_root():
        return []
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2].startswith("fuse") and fields[0] == "mountpoint-s3":
            point = Path(_unescape(fields[1]))
            if KUBELET_ROOT in point.parents:
                points.append(str(point))
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def unmount_all() -> list[str]:
    """Lazily unmount what is left; returns what is still mounted afterwards."""
    for point in fuse_mounts():
        run(["umount", point], check=False)
    for point in fuse_mounts():
        run(["umount", "-l", point], check=False)
    return fuse_mounts()
