"""Debian packages the build needs: libfuse 2 headers/library for mount-s3 (the library's FUSE
crate links libfuse through pkg-config), the C toolchain pieces the AWS CRT build uses, static
busybox for the driver image's mount/umount, and the CA bundle the CRT needs at run time."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence

from s3stack.shell import run
from s3stack.ui import StackError

PACKAGES = ("libfuse-dev", "pkg-config", "cmake", "clang", "libclang-dev", "busybox-static", "ca-certificates")


def missing(names: Sequence[str] = PACKAGES) -> list[str]:
    if not shutil.which("dpkg-query"):
        return []
    result = run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *names], check=False)
    installed = {line.split()[0] for line in result.stdout.splitlines() if line.endswith(" installed")}
    return [name for name in names if name not in installed]


def ensure(note: Callable[[str], None], names: Sequence[str] = PACKAGES) -> None:
    """apt-get install what is missing (as root; a no-op when everything is there)."""
    lacking = missing(names)
    if not lacking:
        return
    if not shutil.which("apt-get"):
        raise StackError(f"Debian packages missing and no apt-get: install {' '.join(lacking)}")
    note(f"apt-get install {' '.join(lacking)}")
    run(["apt-get", "update"], check=False, timeout=600)
    run(["apt-get", "install", "-y", "--no-install-recommends", *lacking], env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=900)
