"""The images a kind node holds before kubeadm runs, built here as docker archives.

kubeadm starts the control plane from images it expects under fixed names (`kubeadm config
images list`); kind's node image build pulls them, and nothing can be pulled here. So they are
built from the same sources as the cluster's binaries: one image for the four Kubernetes
components (the multi-call labkube, plus the node's iptables for kube-proxy), etcd, CoreDNS,
the pause image, and labnet (the pod network). Each archive is imported into the node's
containerd, as kind does, when the node image is built.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kindstack.layout import IMAGES_DIR, LABNET_IMAGE_REPO
from kindstack.versions import Versions
from stackbase.oci import PATH_ENV, Layer, docker_archive, pause_layer, single_binary_layer
from stackbase.ui import ToolError

# The Kubernetes components kubeadm runs from images (each a command name labkube answers to).
KUBE_IMAGE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
IPTABLES_COMMANDS = ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore")
# What kube-proxy's iptables needs from the node's Debian: both backends, their extensions,
# and a shell with grep and ln for the wrapper that picks the backend the node uses.
IPTABLES_FILES = ("/usr/sbin/xtables-legacy-multi", "/usr/sbin/xtables-nft-multi", "/usr/bin/dash", "/usr/bin/grep", "/usr/bin/ln")
XTABLES_DIR = "/usr/lib/x86_64-linux-gnu/xtables"
USRMERGE = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}

# Like Kubernetes' own iptables-wrapper: at the first call, point the iptables commands at the
# backend that already holds the node's rules (kubelet's KUBE-IPTABLES-HINT, else more rules).
IPTABLES_WRAPPER = """#!/bin/sh
set -e
hint() { "xtables-$1-multi" iptables-save -t mangle 2>/dev/null | grep -q KUBE-IPTABLES-HINT; }
rules() { ("xtables-$1-multi" iptables-save; "xtables-$1-multi" ip6tables-save) 2>/dev/null | grep -c '^-' || true; }
if hint nft; then mode=nft
elif hint legacy; then mode=legacy
elif [ "$(rules legacy)" -gt "$(rules nft)" ]; then mode=legacy
else mode=nft
fi
for command in @COMMANDS@; do ln -sf "xtables-$mode-multi" "/usr/sbin/$command"; done
exec "$0" "$@"
""".replace("@COMMANDS@", " ".join(IPTABLES_COMMANDS))


@dataclass(frozen=True)
class Archive:
    names: tuple[str, ...]
    path: Path


@dataclass(frozen=True)
class Inputs:
    labkube: Path
    etcd: Path
    coredns: Path
    labnet: Path
    pause: Path
    tag: str  # the digest of these inputs: labnet's image tag


def wanted_by_kubeadm(listing: str, versions: Versions) -> dict[str, list[str]]:
    """kubeadm's image list (`kubeadm config images list`), grouped by the image built for it."""
    groups: dict[str, list[str]] = {"kube": [], "etcd": [], "coredns": [], "pause": []}
    for name in listing.split():
        repo, _, tag = name.rpartition(":")
        base = repo.rsplit("/", 1)[-1]
        if base in KUBE_IMAGE_COMPONENTS:
            groups["kube"].append(name)
        elif base in groups:
            groups[base].append(name)
        else:
            raise ToolError(f"kubeadm wants an image kindstack does not build: {name}")
        # The pinned release's must be the pins; another release's are built at kubeadm's versions.
        if versions.cluster.pinned and base == "coredns" and tag != versions.coredns:
            raise ToolError(f"kubeadm {versions.kubernetes} installs CoreDNS {tag}: set COREDNS_VERSION={tag} in versions.env")
        if versions.cluster.pinned and base == "etcd" and tag != versions.etcd_tag:
            raise ToolError(f"kubeadm {versions.kubernetes} wants etcd {tag}: set ETCD_VERSION=v{tag.split('-')[0]} in versions.env")
    missing = [group for group, names in groups.items() if not names]
    if missing:
        raise ToolError(f"kubeadm's image list names no {', '.join(missing)} image: {listing.strip()!r}")
    return groups


def kubeadm_version(groups: dict[str, list[str]], image: str) -> str:
    """The version kubeadm runs of `image` (coredns, etcd), from its tag: v1.13.1, v3.6.6."""
    tag = groups[image][0].rpartition(":")[2]
    return "v" + tag.removeprefix("v").split("-")[0]


def under_usr(path: str) -> str:
    """`path` relative to the root, through /usr where Debian's merged /usr links /bin, /lib..."""
    relative = path.lstrip("/")
    top, _, rest = relative.partition("/")
    return f"{USRMERGE[top]}/{rest}" if top in USRMERGE and rest else relative


def iptables_paths(libraries: str) -> list[str]:
    """What to copy from the node for kube-proxy's iptables: its programs, the extensions folder
    and every library `ldd` printed (`libraries`), each once. tar writes a path named twice as
    a hard link to itself, which containerd cannot unpack, so nothing inside the extensions
    folder is named again."""
    paths = {under_usr(p) for p in (*IPTABLES_FILES, *libraries.split()) if p.startswith("/")}
    folder = under_usr(XTABLES_DIR)
    return [folder, *sorted(p for p in paths if p != folder and not p.startswith(folder + "/"))]


def kube_layer(labkube: Path, node_files: bytes) -> bytes:
    """labkube under each component's name, and the node's iptables (a tar of its files)."""
    layer = Layer()
    made = {"usr", "usr/local", "usr/local/bin", "usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "run", "tmp", "var"}
    for directory in sorted(made):
        layer.directory(directory)
    for link, target in USRMERGE.items():
        layer.symlink(link, target)
    layer.file("usr/local/bin/labkube", labkube.read_bytes(), 0o755)
    for component in KUBE_IMAGE_COMPONENTS:
        layer.symlink(f"usr/local/bin/{component}", "labkube")
    with tarfile.open(fileobj=io.BytesIO(node_files)) as files:
        for member in files.getmembers():
            parents = Path(member.name).parents
            for parent in reversed([p.as_posix() for p in parents if p.as_posix() != "."]):
                if parent not in made:
                    layer.directory(parent)
                    made.add(parent)
            if member.isdir():
                if member.name not in made:
                    layer.directory(member.name)
                    made.add(member.name)
                continue
            layer.tar.addfile(member, files.extractfile(member) if member.isfile() else None)
    layer.file("usr/sbin/iptables-wrapper", IPTABLES_WRAPPER.encode(), 0o755)
    layer.symlink("usr/bin/sh", "dash")
    for command in IPTABLES_COMMANDS:
        layer.symlink(f"usr/sbin/{command}", "iptables-wrapper")
    return layer.finish()


def labnet_name(tag: str) -> str:
    return f"{LABNET_IMAGE_REPO}:{tag}"


def build(inputs: Inputs, kubeadm_images: dict[str, list[str]], sandbox_image: str, node_files: Callable[[], bytes]) -> list[Archive]:
    """Write every archive (the kube image's iptables come from `node_files`, a tar)."""
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    pause_names = sorted({sandbox_image, *kubeadm_images["pause"]})
    plans: list[tuple[list[str], Callable[[], bytes], dict[str, object]]] = [
        (kubeadm_images["kube"], lambda: kube_layer(inputs.labkube, node_files()), {"Env": [PATH_ENV]}),
        (kubeadm_images["etcd"], lambda: single_binary_layer("/usr/local/bin/etcd", inputs.etcd), {"Env": [PATH_ENV]}),
        (kubeadm_images["coredns"], lambda: single_binary_layer("/coredns", inputs.coredns), {"Entrypoint": ["/coredns"]}),
        (pause_names, lambda: pause_layer(inputs.pause.read_bytes()), {"Entrypoint": ["/pause"], "User": "65535:65535"}),
        (
            [labnet_name(inputs.tag)],
            lambda: single_binary_layer("/usr/local/bin/labnet", inputs.labnet),
            {"Entrypoint": ["/usr/local/bin/labnet"]},
        ),
    ]
    archives = []
    for names, layer, config in plans:
        path = IMAGES_DIR / (re.sub(r"[^A-Za-z0-9_.-]+", "_", names[0]) + ".tar")
        path.write_bytes(docker_archive(names[0], layer(), config, also=names[1:]))
        archives.append(Archive(tuple(names), path))
    return archives
