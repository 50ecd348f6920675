"""The kind node image, built here the way `kind build node-image` builds it.

kind's own build starts from its base image and pulls what kubeadm needs; neither is possible
without a registry. This build makes the same image from parts this machine can make:

1. a Debian root filesystem (mmdebstrap, from the host's apt sources) with the packages kind's
   base image installs, Debian's containerd, runc and CNI plugins among them, imported as an image;
2. a build container from it, into which go kind's base files (its entrypoint, containerd
   configuration, systemd units, from the kind module at KIND_VERSION), the Kubernetes node
   binaries, `/kind/version` and the pod network's manifest; then kind's own clean-up of
   systemd units and the units it enables;
3. the control-plane images (kindstack/images.py), imported into the container's containerd
   as kind does (content only, pinned), and `docker commit` with kind's entrypoint.

Another Kubernetes release than the pin (`--kubernetes-version`) is localcluster's build of that
release, with CoreDNS and etcd at the versions its kubeadm runs, each built from a module
generated for that version. The image's tag carries the release and a digest of its inputs, so
a warm run finds it in the engine, one image per release.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import localcluster
from kindstack import images, labnet
from kindstack.engine import Engine
from kindstack.layout import (
    BIN_DIR,
    CACHE_DIR,
    GO_SRC,
    LOG,
    NODE_IMAGE_REPO,
    PACKAGE_DIR,
    RELEASE_NODE_IMAGE_REPO,
    ROOTFS_DIR,
    ROOTFS_IMAGE_REPO,
)
from kindstack.versions import Versions
from labkit import gomod
from localcluster import PAUSE_BINARY, Binaries, build_kubernetes
from stackbase.gobuild import command_module, go_build, inputs_digest
from stackbase.oci import Layer
from stackbase.ui import Progress, ToolError

KIND_MODULE = "sigs.k8s.io/kind"
COREDNS_MODULE = "github.com/coredns/coredns"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"
KIND_BUILD_SECONDS = 1800
PROGRAMS = ("labrunc", "labnet", "labcoredns")
NODE_BINARIES = ("kubelet", "kubeadm", "kubectl")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "ptp", "portmap")
CONTAINERD_LINKS = {
    "usr/local/bin/containerd": "/usr/bin/containerd",
    "usr/local/bin/ctr": "/usr/bin/ctr",
    "usr/local/bin/containerd-shim-runc-v2": "/usr/bin/containerd-shim-runc-v2",
    "usr/local/sbin/runc": "/usr/sbin/runc",
}
APT_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
# kind's base image RUN step: drop units a node must not start, keep the kernel log out of the
# journal, enable the node's services.
UNIT_SETUP = """set -e
find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
  /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
  /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
echo ReadKMsg=no >> /etc/systemd/journald.conf
systemctl enable kubelet.service containerd.service undo-mount-hacks.service
systemctl mask systemd-binfmt.service
"""
CONTAINERD_WAIT_SECONDS = 30.0
# kind's base image settings: systemd learns it runs in a container, and kind's entrypoint
# starts it. (Docker 20.10 takes no STOPSIGNAL here; kind removes nodes with SIGKILL anyway.)
IMPORT_CHANGES = ("ENV container=docker",)
COMMIT_CHANGES = ('ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',)


@dataclass(frozen=True)
class Built:
    node_image: str
    kind: Path  # the kind binary
    kubectl: Path  # of the node image's release


def _digest(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:12]


def kind_module(versions: Versions) -> Path:
    try:
        return gomod.module_dir(KIND_MODULE, versions.kind)
    except gomod.GoError as err:
        raise ToolError(str(err)) from None


def build_kind(versions: Versions, progress: Progress) -> Path:
    binary = BIN_DIR / f"kind-{versions.kind}" / "kind"
    if not binary.is_file():
        progress.note(f"building kind {versions.kind}")
        try:
            gomod.build(KIND_MODULE, versions.kind, ".", binary, LOG)
        except gomod.GoError as err:
            raise ToolError(str(err)) from None
    return binary


def build_programs(progress: Progress) -> dict[str, Path]:
    built = {}
    for command in PROGRAMS:
        digest = inputs_digest(command, "-s -w", source=GO_SRC)
        binary = BIN_DIR / f"{command}-{digest}" / command
        if not binary.is_file():
            progress.note(f"building {command} (kindstack/gosrc)")
            go_build(f"./cmd/{command}", binary, "-s -w", LOG, command, GO_SRC)
        built[command] = binary
    return built


def at_version(command: str, source: Path, module: str, version: str, progress: Progress) -> Path:
    """`source`'s cmd/<command> built with `module` at `version`: what kubeadm of a release other
    than the pin runs, where the pins build another version."""
    directory = command_module(CACHE_DIR / f"gosrc-{command}-{version}", source, command, module, version)
    binary = BIN_DIR / f"{command}-{version}-{inputs_digest(command, '-s -w', source=directory)}" / command
    if not binary.is_file():
        progress.note(f"building {command} with {module} {version}")
        go_build(f"./cmd/{command}", binary, "-s -w", LOG, f"{command} {version}", directory)
    return binary


def kubeadm_images(labkube: Path, versions: Versions) -> dict[str, list[str]]:
    """What kubeadm of the release runs, grouped by the image built for it."""
    listing = subprocess.run(
        [str(labkube), "kubeadm", "config", "images", "list", "--kubernetes-version", versions.kubernetes],
        capture_output=True,
        text=True,
        check=False,
    )
    if listing.returncode != 0:
        raise ToolError(f"kubeadm config images list failed: {listing.stderr.strip()}")
    return images.wanted_by_kubeadm(listing.stdout, versions)


def coredns_and_etcd(
    versions: Versions, binaries: Binaries, programs: dict[str, Path], wanted: dict[str, list[str]], progress: Progress
) -> tuple[Path, Path]:
    """CoreDNS and etcd at the versions kubeadm runs: the pins' builds where they are those."""
    coredns, etcd = images.kubeadm_version(wanted, "coredns"), images.kubeadm_version(wanted, "etcd")
    return (
        programs["labcoredns"] if coredns == versions.coredns else at_version("labcoredns", GO_SRC, COREDNS_MODULE, coredns, progress),
        binaries.etcd if etcd == versions.cluster.etcd else at_version("labetcd", localcluster.GO_SRC, ETCD_MODULE, etcd, progress),
    )


def published_release_image(engine: Engine, kind: Path, release: str, progress: Progress) -> str:
    """kind's own node image of `release`, which kind builds from the release's published
    binaries (`kind build node-image --type release`) where its published images are not pinned."""
    name = f"{RELEASE_NODE_IMAGE_REPO}:{release}"
    if engine.docker("images", "-q", name).strip():
        progress.note(f"node image {name} is in the engine")
        return name
    progress.note(f"kind builds node image {name} from Kubernetes {release}'s published binaries")
    command = [str(kind), "build", "node-image", "--type", "release", release, "--image", name]
    with LOG.open("a") as log:
        log.write(f"\n### {' '.join(command)}\n")
        log.flush()
        env = {**os.environ, **engine.env()}
        code = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=KIND_BUILD_SECONDS, check=False).returncode
    if code != 0:
        raise ToolError(f"kind build node-image --type release {release} failed (exit {code}); see {LOG}")
    return name


def apt_sources() -> Path:
    for path in APT_SOURCES:
        if path.is_file() and path.read_text().strip():
            return path
    raise ToolError("no apt sources (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list): the node's Debian comes from them")


def codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.partition("=")[2].strip().strip('"')
    raise ToolError("/etc/os-release names no VERSION_CODENAME: build the node image on Debian")


def rootfs(versions: Versions, progress: Progress) -> Path:
    """The node's Debian root filesystem as a tar, cached by suite, packages and apt sources."""
    sources, suite = apt_sources(), codename()
    digest = _digest(suite, ",".join(versions.node_packages), sources.read_bytes())
    tar = ROOTFS_DIR / f"debian-{suite}-{digest}.tar"
    if tar.is_file():
        return tar
    ROOTFS_DIR.mkdir(parents=True, exist_ok=True)
    partial = tar.with_name(tar.name + ".partial")
    progress.note(f"making the node's Debian {suite} root filesystem (mmdebstrap; cold: about 30 s)")
    command = [
        "mmdebstrap",
        "--variant=minbase",
        "--mode=root",
        "--format=tar",
        f"--include={','.join(versions.node_packages)}",
        suite,
        str(partial),
        str(sources),
    ]
    with LOG.open("a") as log:
        log.write(f"\n### rootfs: {' '.join(command)}\n")
        log.flush()
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=1800, check=False).returncode
    if code != 0:
        partial.unlink(missing_ok=True)
        raise ToolError(f"mmdebstrap failed (exit {code}); see {LOG}")
    partial.replace(tar)
    return tar


def rootfs_image(engine: Engine, tar: Path) -> str:
    name = f"{ROOTFS_IMAGE_REPO}:{tar.stem}"
    if not engine.docker("images", "-q", name).strip():
        changes = [arg for change in IMPORT_CHANGES for arg in ("--change", change)]
        with tar.open("rb") as data:
            engine.docker("import", *changes, "-", name, stdin=data.read(), timeout=900)
    return name


def sandbox_image(containerd_config: str) -> str:
    match = re.search(r'^\s*sandbox_image\s*=\s*"([^"]+)"', containerd_config, re.M)
    if not match:
        raise ToolError("kind's containerd configuration names no sandbox_image: check the kind module's images/base files")
    return match.group(1)


def node_containerd_config(kind_config: str) -> str:
    """kind's configuration, with oom_score_adj kept within what containerd may set: a node
    started by the engine kindstack runs lacks CAP_SYS_RESOURCE when the host's kernel does."""
    return kind_config.replace("restrict_oom_score_adj = false", "restrict_oom_score_adj = true")


def cri_base_spec(default_spec: str) -> bytes:
    """containerd's default spec as kind's base image edits it: its hook that mounts the node's
    product files into pods, and no rlimits."""
    spec = json.loads(default_spec)
    spec.setdefault("hooks", {}).setdefault("createContainer", []).append({"path": "/kind/bin/mount-product-files.sh"})
    spec.get("process", {}).pop("rlimits", None)
    return json.dumps(spec, indent=2).encode()


def node_files(kind_files: Path, labkube: Path, cri_base: bytes, kubernetes: str, cni_manifest: str) -> bytes:
    """The files kind's base image and its node build add to the Debian root filesystem."""
    layer = Layer()
    for directory in (
        "kind",
        "kind/bin",
        "kind/manifests",
        "opt",
        "opt/cni",
        "opt/cni/bin",
        "etc/kubernetes",
        "etc/kubernetes/manifests",
        "etc/systemd/system/kubelet.service.d",
        "usr/local/sbin",
    ):
        layer.directory(directory)
    for path in sorted(p for p in kind_files.rglob("*") if p.is_file()):
        relative = path.relative_to(kind_files).as_posix()
        data = path.read_bytes()
        if relative == "etc/containerd/config.toml":
            data = node_containerd_config(data.decode()).encode()
        executable = relative.startswith(("usr/local/bin/", "kind/bin/"))
        layer.file(relative, data, 0o755 if executable else 0o644)
    layer.file("etc/containerd/cri-base.json", cri_base)
    layer.file("usr/bin/labkube", labkube.read_bytes(), 0o755)
    for binary in NODE_BINARIES:
        layer.symlink(f"usr/bin/{binary}", "labkube")
    for link, target in CONTAINERD_LINKS.items():
        layer.symlink(link, target)
    for plugin in CNI_PLUGINS:
        layer.symlink(f"opt/cni/bin/{plugin}", f"/usr/lib/cni/{plugin}")
    layer.symlink("usr/sbin/init", "/usr/lib/systemd/systemd")
    layer.file("kind/version", kubernetes.encode())
    layer.file("kind/manifests/default-cni.yaml", cni_manifest.encode())
    return layer.finish()


def image_tag(versions: Versions, binaries: Binaries, programs: dict[str, Path], rootfs_tar: Path, *parts: Path) -> str:
    """The node image's name: the Kubernetes version and a digest of everything in it."""
    sources = [p.read_bytes() for p in sorted(PACKAGE_DIR.glob("*.py"))]
    digest = _digest(
        versions.kind,
        *binaries.stamps(),
        *(str(p) for p in parts),
        rootfs_tar.name,
        PAUSE_BINARY.read_bytes(),
        *(str(p) for p in programs.values()),
        *sources,
    )
    return f"{NODE_IMAGE_REPO}:{versions.kubernetes}-{digest}"


class BuildContainer:
    """The container the node image is committed from; removed whatever happens."""

    def __init__(self, engine: Engine, base: str) -> None:
        self.engine = engine
        self.name = f"kindstack-build-{os.getpid()}"
        engine.docker("rm", "-f", self.name, check=False)
        engine.docker(
            "run",
            "-d",
            "--name",
            self.name,
            "--label",
            "kindstack=build",
            "--init",  # reaps the containerd stopped before the commit
            "--entrypoint=sleep",
            "--security-opt",
            "seccomp=unconfined",
            base,
            "infinity",
        )

    def exec(self, *command: str, stdin: bytes | None = None, timeout: float = 600) -> str:
        return self.engine.docker("exec", "-i", self.name, *command, stdin=stdin, timeout=timeout)

    def start_containerd(self) -> None:
        self.exec("sh", "-c", "nohup containerd >/var/log/containerd-build.log 2>&1 &")
        deadline = time.monotonic() + CONTAINERD_WAIT_SECONDS
        while True:
            try:
                self.exec("ctr", "version", timeout=10)
                return
            except ToolError as err:
                if time.monotonic() > deadline:
                    raise ToolError(
                        f"containerd in the build container did not answer within {CONTAINERD_WAIT_SECONDS:.0f}s: {err}"
                    ) from None
                time.sleep(0.5)

    def stop_containerd(self) -> None:
        self.exec("sh", "-c", "pkill containerd; while pgrep -x containerd >/dev/null; do sleep 0.2; done", timeout=60)

    def remove(self) -> None:
        self.engine.docker("rm", "-f", "-v", self.name, check=False, timeout=120)


def build(engine: Engine, versions: Versions, progress: Progress) -> Built:
    """The node image (built when the engine lacks it) and the kind binary."""
    kind = build_kind(versions, progress)
    binaries = build_kubernetes(versions.cluster, progress)
    programs = build_programs(progress)
    labkube = binaries.kube("labkube")
    wanted = kubeadm_images(labkube, versions)
    coredns, etcd = coredns_and_etcd(versions, binaries, programs, wanted, progress)
    tar = rootfs(versions, progress)
    tag = image_tag(versions, binaries, programs, tar, coredns, etcd)
    if engine.docker("images", "-q", tag).strip():
        progress.note(f"node image {tag} is in the engine")
        return Built(tag, kind, binaries.kube("kubectl"))
    started = time.monotonic()
    kind_files = kind_module(versions) / "images" / "base" / "files"
    base = rootfs_image(engine, tar)
    sandbox = sandbox_image((kind_files / "etc" / "containerd" / "config.toml").read_text())
    inputs = images.Inputs(
        labkube,
        etcd,
        coredns,
        programs["labnet"],
        PAUSE_BINARY,
        tag.rpartition("-")[2],
    )
    container = BuildContainer(engine, base)
    try:
        progress.note(f"building node image {tag}")
        cri_base = cri_base_spec(container.exec("ctr", "oci", "spec"))
        files = node_files(kind_files, labkube, cri_base, versions.kubernetes, labnet.manifest(images.labnet_name(inputs.tag)))
        engine.docker("cp", "-", f"{container.name}:/", stdin=files, timeout=600)
        container.exec("sh", "-c", UNIT_SETUP)

        def iptables_files() -> bytes:
            loaded = " ".join([*images.IPTABLES_FILES, f"{images.XTABLES_DIR}/*.so"])  # extensions have libraries too
            libraries = container.exec("sh", "-c", f"ldd {loaded} | grep -o '/[^ :]*' | sort -u")
            return engine.output("exec", container.name, "tar", "-C", "/", "-chf", "-", *images.iptables_paths(libraries))

        archives = images.build(inputs, wanted, sandbox, iptables_files)
        container.start_containerd()
        for archive in archives:
            container.exec(
                "ctr",
                "--namespace=k8s.io",
                "images",
                "import",
                "--no-unpack",
                "-",
                stdin=archive.path.read_bytes(),
                timeout=600,
            )
        present = set(container.exec("ctr", "--namespace=k8s.io", "images", "ls", "-q").split())
        absent = [name for archive in archives for name in archive.names if name not in present]
        if absent:
            raise ToolError(f"the node's containerd lacks {', '.join(absent)} after import: see {LOG}")
        container.stop_containerd()
        changes = [arg for change in COMMIT_CHANGES for arg in ("--change", change)]
        engine.docker("commit", *changes, container.name, tag, timeout=900)
    finally:
        container.remove()
    progress.note(f"built node image {tag} in {time.monotonic() - started:.0f}s")
    for stale in superseded(tag, engine.docker("images", NODE_IMAGE_REPO, "--format", "{{.Repository}}:{{.Tag}}").split()):
        if engine.ours:
            engine.docker("rmi", stale, check=False)
    return Built(tag, kind, binaries.kube("kubectl"))


def superseded(tag: str, present: list[str]) -> list[str]:
    """Node images of kindstack an image `tag` replaces: earlier builds of its release (another
    release's image stays, for a warm run across versions)."""
    release = tag.rpartition(":")[2].rpartition("-")[0]
    return [name for name in present if name != tag and name.rpartition(":")[2].rpartition("-")[0] == release]


def tool_path(built: Built) -> str:
    return os.pathsep.join([str(built.kind.parent), os.environ.get("PATH", "")])
