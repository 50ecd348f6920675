"""The pins kindstack reads from ``versions.env`` (the one source of truth)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import localcluster
from kindstack.layout import GO_SRC
from labkit.settings import minor
from stackbase.ui import ToolError
from stackbase.versions import load_pins


@dataclass(frozen=True)
class Versions:
    cluster: localcluster.Versions  # Kubernetes, etcd: what localcluster builds
    kind: str
    coredns: str
    node_packages: tuple[str, ...]
    host_packages: tuple[str, ...]
    published: tuple[str, ...] = ()  # kind's node images of other minors, by digest

    def published_image(self, release: str) -> str | None:
        """kind's published node image of `release`'s minor, if one is pinned."""
        found = [image for image in self.published if minor(image.rpartition(":v")[2].partition("@")[0]) == minor(release)]
        return found[0] if found else None

    @property
    def kubernetes(self) -> str:
        return self.cluster.kubernetes

    @property
    def etcd_tag(self) -> str:
        """The tag kubeadm gives etcd's image (its version, without v, and a -0 revision)."""
        return self.cluster.etcd.removeprefix("v") + "-0"


def load(kubernetes: str | None = None, *, pins_only: bool = False) -> Versions:
    """The pins; with another release asked (localcluster's `release`), that release's build,
    unless `pins_only` (what needs no build: kind, the packages, the published node image)."""
    pins = load_pins()
    versions = Versions(
        cluster=localcluster.Versions.from_pins(pins) if pins_only else localcluster.load(kubernetes),
        kind=pins.need("KIND_VERSION"),
        coredns=pins.need("COREDNS_VERSION"),
        node_packages=pins.names("KIND_NODE_PACKAGES"),
        host_packages=pins.names("KINDSTACK_HOST_PACKAGES"),
        published=pins.names("KIND_NODE_IMAGES"),
    )
    go_mod = (GO_SRC / "go.mod").read_text()
    if not re.search(rf"^\s*github\.com/coredns/coredns {re.escape(versions.coredns)}\s*$", go_mod, re.M):
        raise ToolError(
            f"kindstack/gosrc/go.mod does not require github.com/coredns/coredns {versions.coredns}: edit it and run `go mod tidy`"
        )
    return versions
