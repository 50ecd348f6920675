"""A real single-node Kubernetes cluster on this machine, built from registry packages.

Run from the repository root: ``python3 -m localcluster up|down|status|build|logs``.

Other tools take only the names below: kindstack builds its node image from the same
Kubernetes binaries (of the same release, `--kubernetes-version`) and loads the lab's images into kind; s3stack imports its images into this
cluster's containerd and looks for Mountpoint's mounts under its kubelet root.
"""

from localcluster.build import Binaries, build_kubernetes
from localcluster.cli import release_option
from localcluster.host import owns_kubelet_root
from localcluster.images import PAUSE_BINARY, build_images
from localcluster.layout import ADMIN_KUBECONFIG, GO_SRC, IMAGES_MARK_DIR, KUBELET_ROOT
from localcluster.runtime import ctr
from localcluster.versions import Versions, load, release

__all__ = [
    "ADMIN_KUBECONFIG",
    "GO_SRC",
    "IMAGES_MARK_DIR",
    "KUBELET_ROOT",
    "PAUSE_BINARY",
    "Binaries",
    "Versions",
    "build_images",
    "build_kubernetes",
    "ctr",
    "load",
    "owns_kubelet_root",
    "release",
    "release_option",
]
