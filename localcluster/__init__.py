"""A real single-node Kubernetes cluster on this machine, built from registry packages.

Run from the repository root: ``python3 -m localcluster up|down|status|build|logs``.

Other tools take only the names below: kindstack builds its node image from the same
Kubernetes binaries and loads the lab's images into kind; s3stack imports its images into this
cluster's containerd and looks for Mountpoint's mounts under its kubelet root.
"""

from localcluster.build import Binaries, build_kubernetes
from localcluster.host import owns_kubelet_root
from localcluster.images import PAUSE_BINARY, build_images
from localcluster.layout import ADMIN_KUBECONFIG, IMAGES_MARK_DIR, KUBELET_ROOT
from localcluster.runtime import ctr
from localcluster.versions import Versions

__all__ = [
    "ADMIN_KUBECONFIG",
    "IMAGES_MARK_DIR",
    "KUBELET_ROOT",
    "PAUSE_BINARY",
    "Binaries",
    "Versions",
    "build_images",
    "build_kubernetes",
    "ctr",
    "owns_kubelet_root",
]
