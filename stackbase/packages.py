"""Debian packages a tool needs on the host, installed with apt-get when missing (as root).

Which packages is each tool's own fact, pinned in versions.env; how to tell and install them is
the same for every tool."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence

from stackbase.shell import run
from stackbase.ui import ToolError


def missing(names: Sequence[str]) -> list[str]:
    if not shutil.which("dpkg-query"):
        return []
    result = run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *names], check=False)
    installed = {line.split()[0] for line in result.stdout.splitlines() if line.endswith(" installed")}
    return [name for name in names if name not in installed]


def ensure(note: Callable[[str], None], names: Sequence[str]) -> None:
    """apt-get install what is missing (a no-op when everything is there)."""
    lacking = missing(names)
    if not lacking:
        return
    if not shutil.which("apt-get"):
        raise ToolError(f"Debian packages missing and no apt-get: install {' '.join(lacking)}")
    note(f"apt-get install {' '.join(lacking)}")
    run(["apt-get", "update"], check=False, timeout=600)
    run(["apt-get", "install", "-y", "--no-install-recommends", *lacking], env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=900)
