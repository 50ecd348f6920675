"""Container images written as docker-archive tarballs (Python tarfile and JSON).

No registry is reachable, so every image a tool needs is assembled here from files this
machine has, one layer each, and loaded the way `docker save` output is: `ctr images import`
on the local cluster, `kind load` and the node image's containerd on kind."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

MTIME = 946684800  # 2000-01-01: fixed, so the same inputs give the same image
# containerd's label that keeps an image from its garbage collection (nothing can be pulled again).
PINNED_LABEL = "io.cri-containerd.pinned=pinned"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX = Path("/bin/busybox")  # static (busybox-static): the images' shell and mount/umount


@dataclass
class Layer:
    """An image layer assembled in memory as an uncompressed tar."""

    buffer: io.BytesIO = field(default_factory=io.BytesIO)

    def __post_init__(self) -> None:
        self.tar = tarfile.TarFile(fileobj=self.buffer, mode="w", format=tarfile.PAX_FORMAT)

    def _info(self, name: str, kind: bytes, mode: int, uid: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name.lstrip("/"))
        info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, uid, MTIME
        return info

    def directory(self, name: str, mode: int = 0o755, uid: int = 0) -> None:
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid))

    def file(self, name: str, data: bytes, mode: int = 0o644, uid: int = 0) -> None:
        info = self._info(name, tarfile.REGTYPE, mode, uid)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))

    def symlink(self, name: str, target: str) -> None:
        info = self._info(name, tarfile.SYMTYPE, 0o777, 0)
        info.linkname = target
        self.tar.addfile(info)

    def finish(self) -> bytes:
        self.tar.close()
        return self.buffer.getvalue()


def docker_archive(name: str, layer: bytes, config: dict[str, object], also: Sequence[str] = ()) -> bytes:
    """A `docker save`-style archive holding one single-layer image named `name` (and `also`)."""
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2000-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        # Where the writer first lived; part of every image's ID, so it stays.
        "history": [{"created": "2000-01-01T00:00:00Z", "created_by": "localcluster images.py"}],
    }
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [name, *also], "Layers": [layer_name]}]
    out = Layer()
    out.file(config_name, config_bytes)
    out.directory(layer_name.split("/")[0])
    out.file(layer_name, layer)
    out.file("manifest.json", json.dumps(manifest).encode())
    return out.finish()


@dataclass(frozen=True)
class BuiltImage:
    name: str
    archive: Path
    digest: str  # of the archive: an import is due when it changes


def write_image(name: str, layer: bytes, config: dict[str, object], directory: Path) -> BuiltImage:
    """The image's archive in `directory`, under a file name made of its image name."""
    directory.mkdir(parents=True, exist_ok=True)
    data = docker_archive(name, layer, config)
    archive = directory / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".tar")
    archive.write_bytes(data)
    return BuiltImage(name, archive, hashlib.sha256(data).hexdigest()[:16])


def base_files(layer: Layer) -> None:
    """The directories every image of the cluster's own has (the pod sandbox, the apps)."""
    for directory in (
        "bin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "usr/local",
        "usr/local/bin",
        "sbin",
        "etc",
        "var",
        "var/run",
        "proc",
        "sys",
        "dev",
        "run",
    ):
        layer.directory(directory)
    layer.directory("tmp", 0o1777)
    layer.directory("root", 0o700)


def pause_layer(binary: bytes) -> bytes:
    layer = Layer()
    base_files(layer)
    layer.file("pause", binary, 0o755)
    return layer.finish()


def program_base(layer: Layer) -> None:
    """The root of an image that runs one program (a driver, a sidecar, a server): the usual
    directories, /tmp, and the users root and nobody."""
    for directory in (
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "usr/local",
        "usr/local/bin",
        "lib",
        "lib64",
        "etc",
        "var",
        "run",
        "proc",
        "sys",
        "dev",
    ):
        layer.directory(directory)
    layer.directory("tmp", 0o1777)
    layer.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    layer.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")


def single_binary_layer(path: str, binary: Path) -> bytes:
    layer = Layer()
    program_base(layer)
    layer.file(path.lstrip("/"), binary.read_bytes(), 0o755)
    return layer.finish()
