"""The pinned versions: ``versions.env`` at the repository root is the one source of truth."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from labkit import settings
from localcluster.layout import GO_MOD, VERSIONS_FILE
from localcluster.ui import ClusterError


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    etcd: str
    containerd: str
    runc: str
    cni_plugins: str
    debian_packages: tuple[str, ...]
    pause_image: str

    @property
    def staging(self) -> str:
        """The tag of the k8s.io staging modules that match the Kubernetes release."""
        return "v0." + self.kubernetes.removeprefix("v").split(".", 1)[1]

    @property
    def major_minor(self) -> tuple[str, str]:
        major, minor = self.kubernetes.removeprefix("v").split(".")[:2]
        return major, minor


def parse(text: str) -> dict[str, str]:
    """versions.env's pins, read with the suite's own reader (one grammar for both)."""
    try:
        return settings.parse_pins(text)
    except ValueError as err:
        raise ClusterError(str(err)) from None


def load(path: Path = VERSIONS_FILE) -> Versions:
    try:
        values = parse(path.read_text())
    except FileNotFoundError:
        raise ClusterError(f"{path} is missing: run from the repository checkout") from None

    def need(key: str) -> str:
        if not values.get(key):
            raise ClusterError(f"{path} has no {key}=...: add the pin")
        return values[key]

    kubernetes = need("KUBERNETES_VERSION")
    if not re.fullmatch(r"v\d+\.\d+\.\d+", kubernetes):
        raise ClusterError(f"KUBERNETES_VERSION={kubernetes} is not vMAJOR.MINOR.PATCH: fix {path}")
    return Versions(
        kubernetes=kubernetes,
        etcd=need("ETCD_VERSION"),
        containerd=need("CONTAINERD_VERSION"),
        runc=need("RUNC_VERSION"),
        cni_plugins=need("CNI_PLUGINS_VERSION"),
        debian_packages=tuple(p for p in need("LOCALCLUSTER_DEBIAN_PACKAGES").split(",") if p),
        pause_image=need("PAUSE_IMAGE"),
    )


def check_go_mod(versions: Versions, go_mod: Path = GO_MOD) -> None:
    """Fail unless the wrapper module builds exactly the pinned versions."""
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
        raise ClusterError(
            f"{go_mod} does not match versions.env ({'; '.join(problems)}): edit its versions "
            "to the pins and run `go mod tidy` in localcluster/gosrc"
        )
