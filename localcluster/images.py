"""Container images built on this machine: the pod sandbox (pause) and the lab's assets image.

No registry is reachable, so each image is written as a docker-archive tarball (Python tarfile
and JSON) and imported into containerd's ``k8s.io`` namespace under the exact name the
manifests use.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labkit.lab import UI
from localcluster.build import go_build, inputs_digest
from localcluster.layout import CACHE_DIR, DEPLOYMENT_MANIFEST, IMAGES_MARK_DIR, PRODUCT_IMAGES
from localcluster.runtime import ctr
from localcluster.ui import ClusterError, Progress
from localcluster.versions import Versions

# The app's user. The lab mounts its S3 volume with uid=999,gid=999, so the app runs as 999
# and owns its asset directory: it can write there with every capability dropped.
APP_UID = 999
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX = Path("/bin/busybox")
BASH_STATIC = Path("/bin/bash-static")
MTIME = 946684800  # 2000-01-01: fixed, so the same inputs give the same image
PINNED_LABEL = "io.cri-containerd.pinned=pinned"
BUILD_DIR = CACHE_DIR / "images"
PAUSE_BINARY = BUILD_DIR / "labpause"  # the pod sandbox's program (kind's node image uses it too)


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


def assets_image_name() -> str:
    """The image of the deployment's first container, read from the lab's manifest."""
    if not DEPLOYMENT_MANIFEST.is_file():
        raise ClusterError(f"{DEPLOYMENT_MANIFEST} is missing: run from the repository checkout")
    in_containers = False
    for line in DEPLOYMENT_MANIFEST.read_text().splitlines():
        if re.match(r"^\s*containers:\s*$", line):
            in_containers = True
        match = re.match(r"^\s*-?\s*image:\s*[\"']?([^\"'\s]+)", line)
        if in_containers and match:
            return match.group(1)
    raise ClusterError(f"no containers[0].image in {DEPLOYMENT_MANIFEST}: fix the manifest")


@dataclass(frozen=True)
class StaticTools:
    """The image's shell and utilities, as bytes: building a layer never reads the host, so
    only `from_host` needs the Debian packages (which `up` and `build` install first)."""

    busybox: bytes
    bash: bytes
    applets: tuple[str, ...]  # paths busybox answers to, e.g. "bin/ls"

    @classmethod
    def from_host(cls) -> StaticTools:
        for path, package in ((BUSYBOX, "busybox-static"), (BASH_STATIC, "bash-static")):
            if not path.is_file():
                raise ClusterError(f"{path} is missing: apt-get install {package} (or run `python3 -m localcluster build` as root)")
        listed = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True).stdout
        return cls(BUSYBOX.read_bytes(), BASH_STATIC.read_bytes(), tuple(sorted(set(listed.split()))))


def _base_files(layer: Layer) -> None:
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
    _base_files(layer)
    layer.file("pause", binary, 0o755)
    return layer.finish()


def _app_base(server: bytes, tools: StaticTools, user: str, uid: int) -> Layer:
    """A stand-in app image's base: the shell and utilities the lab's commands use, the server,
    and the app's user."""
    layer = Layer()
    _base_files(layer)
    layer.file("bin/busybox", tools.busybox, 0o755)
    layer.file("bin/bash", tools.bash, 0o755)
    for applet in tools.applets:
        if applet not in ("bin/busybox", "bin/bash") and applet.count("/") >= 1:
            layer.symlink(applet, "/bin/busybox")
    layer.file("usr/local/bin/assets-server", server, 0o755)
    layer.file("etc/passwd", f"root:x:0:0:root:/root:/bin/sh\n{user}:x:{uid}:{uid}:{user}:/tmp:/bin/sh\n".encode())
    layer.file("etc/group", f"root:x:0:\n{user}:x:{uid}:\n".encode())
    return layer


def ui_layer(server: bytes, tools: StaticTools) -> bytes:
    """The workshop's current app, as far as the lab uses it: its user, a shell, and the
    health endpoint its liveness probe asks for (the real one is a Spring Boot app)."""
    layer = _app_base(server, tools, UI.name, UI.uid)
    for directory in ("srv", f"srv/{UI.name}", *(f"srv/{UI.name}/{p}" for p in _parents(UI.probe_path))):
        layer.directory(directory)
    layer.file(f"srv/{UI.name}{UI.probe_path}", b'{"status":"UP"}\n', 0o644)
    return layer.finish()


def _parents(path: str) -> list[str]:
    """'a', 'a/b' for '/a/b/c'."""
    parts = path.strip("/").split("/")[:-1]
    return ["/".join(parts[: n + 1]) for n in range(len(parts))]


def assets_layer(server: bytes, tools: StaticTools) -> bytes:
    layer = _app_base(server, tools, "assets", APP_UID)
    for directory in ("usr/share", "usr/share/nginx"):
        layer.directory(directory)
    layer.directory("usr/share/nginx/html", 0o755, APP_UID)
    layer.file("usr/share/nginx/html/health.html", b"OK\n", 0o644, APP_UID)
    layer.file("usr/share/nginx/html/index.html", b"<html><body>assets</body></html>\n", 0o644, APP_UID)
    layer.directory("usr/share/nginx/html/assets", 0o755, APP_UID)
    # The image ships exactly the lab's product images (the suite's data folder is their one copy).
    products = sorted(PRODUCT_IMAGES.glob("*.jpg"))
    if not products:
        raise ClusterError(f"no product images in {PRODUCT_IMAGES}: restore labkit/data/products from the repository")
    for source in products:
        layer.file(f"usr/share/nginx/html/assets/{source.name}", source.read_bytes(), 0o644, APP_UID)
    return layer.finish()


@dataclass(frozen=True)
class BuiltImage:
    name: str
    archive: Path
    digest: str


def _write(name: str, layer: bytes, config: dict[str, object], directory: Path) -> BuiltImage:
    data = docker_archive(name, layer, config)
    digest = hashlib.sha256(data).hexdigest()[:16]
    archive = directory / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".tar")
    archive.write_bytes(data)
    return BuiltImage(name, archive, digest)


def build_images(versions: Versions, progress: Progress) -> list[BuiltImage]:
    """Build every archive (seconds: two small static Go programs and a few tarballs)."""
    directory = BUILD_DIR
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "build.log"
    pause_bin, server_bin = PAUSE_BINARY, directory / "assets-server"
    for command, binary in (("labpause", pause_bin), ("assets-server", server_bin)):
        stamp = directory / f".built-{command}"
        digest = inputs_digest(command, "-s -w")
        if not (binary.is_file() and stamp.is_file() and stamp.read_text().strip() == digest):
            go_build(f"./cmd/{command}", binary, "-s -w", log, command)
            stamp.write_text(digest + "\n")
    images = [
        _write(
            versions.pause_image,
            pause_layer(pause_bin.read_bytes()),
            {"Entrypoint": ["/pause"], "User": "65535:65535"},
            directory,
        ),
        _write(
            UI.image,
            ui_layer(server_bin.read_bytes(), StaticTools.from_host()),
            {
                "Entrypoint": ["/usr/local/bin/assets-server"],
                "Env": [f"PATH={IMAGE_PATH}", f"PORT={UI.port}", f"ROOT=/srv/{UI.name}"],
                "ExposedPorts": {f"{UI.port}/tcp": {}},
                "User": f"{UI.uid}:{UI.uid}",
                "WorkingDir": f"/srv/{UI.name}",
                "StopSignal": "SIGTERM",
            },
            directory,
        ),
        _write(
            assets_image_name(),
            assets_layer(server_bin.read_bytes(), StaticTools.from_host()),
            {
                "Entrypoint": ["/usr/local/bin/assets-server"],
                "Env": [f"PATH={IMAGE_PATH}", "PORT=8080"],
                "ExposedPorts": {"8080/tcp": {}},
                "User": f"{APP_UID}:{APP_UID}",
                "WorkingDir": "/usr/share/nginx/html",
                "StopSignal": "SIGTERM",
            },
            directory,
        ),
    ]
    progress.note("built images: " + ", ".join(image.name for image in images))
    return images


def import_images(images: list[BuiltImage], progress: Progress) -> None:
    """Import the archives that containerd does not hold yet, and pin them against GC."""
    IMAGES_MARK_DIR.mkdir(parents=True, exist_ok=True)
    present = set(ctr("images", "ls", "-q").split())
    for image in images:
        mark = IMAGES_MARK_DIR / (image.archive.name + ".digest")
        if image.name in present and mark.is_file() and mark.read_text().strip() == image.digest:
            continue
        ctr("images", "import", str(image.archive))
        ctr("images", "label", image.name, PINNED_LABEL)
        mark.write_text(image.digest + "\n")
        progress.note(f"imported {image.name}")
    for image in images:
        if image.name not in set(ctr("images", "ls", "-q").split()):
            raise ClusterError(f"image {image.name} is not in containerd after import: see logs/containerd.log")
