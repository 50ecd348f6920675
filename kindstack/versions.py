"""The pins kindstack reads from ``versions.env`` (the one source of truth)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kindstack.layout import GO_SRC
from localcluster import versions as cluster_versions
from localcluster.layout import VERSIONS_FILE
from localcluster.ui import ClusterError


@dataclass(frozen=True)
class Versions:
    cluster: cluster_versions.Versions  # Kubernetes, etcd: what localcluster builds
    kind: str
    coredns: str
    node_packages: tuple[str, ...]
    host_packages: tuple[str, ...]

    @property
    def kubernetes(self) -> str:
        return self.cluster.kubernetes

    @property
    def etcd_tag(self) -> str:
        """The tag kubeadm gives etcd's image (its version, without v, and a -0 revision)."""
        return self.cluster.etcd.removeprefix("v") + "-0"


def load() -> Versions:
    values = cluster_versions.parse(VERSIONS_FILE.read_text())

    def need(key: str) -> str:
        if not values.get(key):
            raise ClusterError(f"versions.env has no {key}=...: add the pin")
        return values[key]

    versions = Versions(
        cluster=cluster_versions.load(),
        kind=need("KIND_VERSION"),
        coredns=need("COREDNS_VERSION"),
        node_packages=tuple(p for p in need("KIND_NODE_PACKAGES").split(",") if p),
        host_packages=tuple(p for p in need("KINDSTACK_HOST_PACKAGES").split(",") if p),
    )
    go_mod = (GO_SRC / "go.mod").read_text()
    if not re.search(rf"^\s*github\.com/coredns/coredns {re.escape(versions.coredns)}\s*$", go_mod, re.M):
        raise ClusterError(
            f"kindstack/gosrc/go.mod does not require github.com/coredns/coredns {versions.coredns}: edit it and run `go mod tidy`"
        )
    return versions
