"""The pinned versions: ``versions.env`` at the repository root is the one source of truth."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from labkit.tools import KUBERNETES_RELEASE_ENV
from localcluster import releases
from localcluster.layout import GO_MOD, GO_SRC
from stackbase.ui import ToolError
from stackbase.versions import Pins, load_pins


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    etcd: str
    containerd: str
    runc: str
    cni_plugins: str
    debian_packages: tuple[str, ...]
    pause_image: str
    # The Go module that builds this release: gosrc/ for the pin, a generated one for another.
    source: Path = GO_SRC

    @property
    def pinned(self) -> bool:
        return self.source == GO_SRC

    @property
    def staging(self) -> str:
        """The tag of the k8s.io staging modules that match the Kubernetes release."""
        return "v0." + self.kubernetes.removeprefix("v").split(".", 1)[1]

    @property
    def major_minor(self) -> tuple[str, str]:
        major, minor = self.kubernetes.removeprefix("v").split(".")[:2]
        return major, minor

    @classmethod
    def from_pins(cls, pins: Pins) -> Versions:
        kubernetes = pins.need("KUBERNETES_VERSION")
        if not re.fullmatch(r"v\d+\.\d+\.\d+", kubernetes):
            raise ToolError(f"KUBERNETES_VERSION={kubernetes} is not vMAJOR.MINOR.PATCH: fix {pins.path}")
        return cls(
            kubernetes=kubernetes,
            etcd=pins.need("ETCD_VERSION"),
            containerd=pins.need("CONTAINERD_VERSION"),
            runc=pins.need("RUNC_VERSION"),
            cni_plugins=pins.need("CNI_PLUGINS_VERSION"),
            debian_packages=pins.names("LOCALCLUSTER_DEBIAN_PACKAGES"),
            pause_image=pins.need("PAUSE_IMAGE"),
        )


def release(kubernetes: str | None = None) -> str:
    """The vX.Y.Z a run builds: `kubernetes`, else $LABCLUSTER_KUBERNETES_VERSION, else the pin."""
    pins = load_pins()
    asked = kubernetes or os.environ.get(KUBERNETES_RELEASE_ENV)
    return releases.resolve(asked, pins) if asked else pins.need("KUBERNETES_VERSION")


def load(kubernetes: str | None = None) -> Versions:
    """The pins; with another release asked (`release`), that release of Kubernetes and the
    etcd it requires, built from a module generated for it."""
    pinned = Versions.from_pins(load_pins())
    wanted = release(kubernetes)
    if wanted == pinned.kubernetes:
        return pinned
    source, etcd = releases.module_for(wanted)
    return replace(pinned, kubernetes=wanted, etcd=etcd, source=source)


def check_go_mod(versions: Versions, go_mod: Path = GO_MOD) -> None:
    """Fail unless the wrapper module builds exactly the pinned versions."""
    if not versions.pinned:
        return  # generated for its release (releases.py)
    text = go_mod.read_text()
    problems: list[str] = []
    if not re.search(rf"^\s*k8s\.io/kubernetes {re.escape(versions.kubernetes)}\s*$", text, re.M):
        problems.append(f"k8s.io/kubernetes is not {versions.kubernetes}")
    if not re.search(rf"^\s*go\.etcd\.io/etcd/server/v3 {re.escape(versions.etcd)}\s*$", text, re.M):
        problems.append(f"go.etcd.io/etcd/server/v3 is not {versions.etcd}")
    for module, tag in re.findall(r"^\s*(k8s\.io/\S+) => \S+ (\S+)\s*$", text, re.M):
        if tag != versions.staging:
            problems.append(f"{module} is replaced by {tag}, not {versions.staging}")
    if problems:
        raise ToolError(
            f"{go_mod} does not match versions.env ({'; '.join(problems)}): edit its versions "
            "to the pins and run `go mod tidy` in localcluster/gosrc"
        )
