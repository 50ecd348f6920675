"""The driver's three images, written here as docker archives and imported into the cluster's
containerd under the exact names that the driver's chart renders.

- the driver image (node plugin, controller and Mountpoint pods share it, as upstream):
  ``/bin/aws-s3-csi-driver``, ``/bin/aws-s3-csi-controller``, ``/bin/aws-s3-csi-mounter``,
  ``/mountpoint-s3/bin/mount-s3`` (``MOUNTPOINT_BIN_DIR``) with the shared libraries it links
  (libfuse 2 from Debian, glibc) at their own paths, and static busybox for mount/umount;
- the node registration sidecar (``/csi-node-driver-registrar``);
- the liveness sidecar (``/livenessprobe``).

The archive writer and the import are localcluster's (``localcluster.images``).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from localcluster.images import BUSYBOX, PINNED_LABEL, Layer, docker_archive
from localcluster.layout import IMAGES_MARK_DIR
from localcluster.runtime import ctr
from localcluster.ui import ClusterError
from s3stack.build import Artifacts
from s3stack.layout import IMAGES_DIR
from s3stack.ui import Progress, StackError
from s3stack.versions import Versions

MOUNTPOINT_BIN_DIR = "/mountpoint-s3/bin"
# The CRT's default credentials chain builds a TLS context (for its STS/IMDS/ECS providers) even
# when the endpoint is plain HTTP, and fails (CRT error 1173) without a CA bundle in the image.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MARK_DIR = IMAGES_MARK_DIR


@dataclass(frozen=True)
class ImageNames:
    driver: str
    registrar: str
    liveness: str


@dataclass(frozen=True)
class Image:
    name: str
    archive: Path
    digest: str


def names_from_manifest(manifest: str) -> ImageNames:
    """Read the image names from the rendered chart (container images and MOUNTPOINT_IMAGE)."""
    images: set[str] = set(re.findall(r"^\s*(?:-\s*)?image:\s*[\"']?([^\"'\s]+)", manifest, re.MULTILINE))

    def pick(fragment: str) -> str:
        found = sorted(image for image in images if fragment in image)
        if len(found) != 1:
            raise StackError(f"the rendered chart has {len(found)} images matching {fragment!r} ({sorted(images)}): check the chart")
        return found[0]

    return ImageNames(
        driver=pick("aws-mountpoint-s3-csi-driver"),
        registrar=pick("node-driver-registrar"),
        liveness=pick("livenessprobe"),
    )


def _base(layer: Layer) -> None:
    for directory in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "lib", "lib64", "etc", "var", "run", "proc", "sys", "dev"):
        layer.directory(directory)
    layer.directory("tmp", 0o1777)
    layer.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    layer.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")


def shared_libraries(binary: Path) -> dict[str, Path]:
    """The libraries `binary` loads (ldd), by the path the loader looks them up at."""
    result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"ldd {binary} failed: {result.stderr.strip()}")
    libraries: dict[str, Path] = {}
    for line in result.stdout.splitlines():
        match = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if match:
            libraries[match.group(1)] = Path(match.group(1)).resolve()
    if not any("libfuse.so" in path for path in libraries):
        raise StackError(f"{binary} does not link libfuse: rebuild it (apt-get install libfuse-dev)")
    return libraries


def driver_layer(artifacts: Artifacts) -> bytes:
    layer = Layer()
    _base(layer)
    for parent in ("lib/x86_64-linux-gnu", "mountpoint-s3", "mountpoint-s3/bin", "etc/ssl", "etc/ssl/certs"):
        layer.directory(parent)
    if not CA_BUNDLE.is_file():
        raise StackError(f"{CA_BUNDLE} is missing: apt-get install ca-certificates")
    layer.file(str(CA_BUNDLE).lstrip("/"), CA_BUNDLE.read_bytes())
    busybox = BUSYBOX.read_bytes() if BUSYBOX.is_file() else None
    if busybox is None:
        raise StackError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    layer.file("bin/busybox", busybox, 0o755)
    for applet in ("sh", "mount", "umount", "ls", "cat", "mkdir", "rm", "sleep", "grep", "ps"):
        layer.symlink(f"bin/{applet}", "/bin/busybox")
    for command in ("aws-s3-csi-driver", "aws-s3-csi-controller", "aws-s3-csi-mounter"):
        layer.file(f"bin/{command}", artifacts.driver(command).read_bytes(), 0o755)
    layer.file(f"{MOUNTPOINT_BIN_DIR.lstrip('/')}/mount-s3", artifacts.mount_s3.read_bytes(), 0o755)
    for path, real in sorted(shared_libraries(artifacts.mount_s3).items()):
        layer.file(path.lstrip("/"), real.read_bytes(), 0o755)
    return layer.finish()


def single_binary_layer(path: str, binary: Path) -> bytes:
    layer = Layer()
    _base(layer)
    layer.file(path.lstrip("/"), binary.read_bytes(), 0o755)
    return layer.finish()


def _write(name: str, layer: bytes, config: dict[str, object]) -> Image:
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    data = docker_archive(name, layer, config)
    archive = IMAGES_DIR / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".tar")
    archive.write_bytes(data)
    return Image(name, archive, hashlib.sha256(data).hexdigest()[:16])


def build_images(names: ImageNames, artifacts: Artifacts, versions: Versions, progress: Progress) -> list[Image]:
    images = [
        _write(
            names.driver,
            driver_layer(artifacts),
            {
                "Entrypoint": ["/bin/aws-s3-csi-driver"],
                "Env": [
                    PATH_ENV,
                    f"MOUNTPOINT_BIN_DIR={MOUNTPOINT_BIN_DIR}",
                    f"MOUNTPOINT_VERSION=fs-{versions.mountpoint_s3_fs}",
                ],
            },
        ),
        _write(
            names.registrar,
            single_binary_layer("/csi-node-driver-registrar", artifacts.tool("registrar")),
            {"Entrypoint": ["/csi-node-driver-registrar"], "Env": [PATH_ENV]},
        ),
        _write(
            names.liveness,
            single_binary_layer("/livenessprobe", artifacts.tool("livenessprobe")),
            {"Entrypoint": ["/livenessprobe"], "Env": [PATH_ENV]},
        ),
    ]
    progress.note("wrote images: " + ", ".join(image.name for image in images))
    return images


def import_images(images: list[Image], progress: Progress) -> list[str]:
    """Import the archives that containerd lacks or holds in another build, pinned against GC;
    returns the names imported now (pods running an older build of them need a restart)."""
    MARK_DIR.mkdir(parents=True, exist_ok=True)
    imported: list[str] = []
    try:
        present = set(ctr("images", "ls", "-q").split())
        for image in images:
            mark = MARK_DIR / ("s3stack-" + image.archive.name + ".digest")
            if image.name in present and mark.is_file() and mark.read_text().strip() == image.digest:
                continue
            ctr("images", "import", str(image.archive), timeout=300)
            ctr("images", "label", image.name, PINNED_LABEL)
            mark.write_text(image.digest + "\n")
            imported.append(image.name)
            progress.note(f"imported {image.name}")
        present = set(ctr("images", "ls", "-q").split())
    except ClusterError as err:
        raise StackError(f"{err}: is the local cluster up? (python3 -m localcluster up)") from None
    missing = [image.name for image in images if image.name not in present]
    if missing:
        raise StackError(f"images not in containerd after import: {', '.join(missing)}")
    return imported
