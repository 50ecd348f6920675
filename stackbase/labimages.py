"""The lab's app images, built offline: stand-ins for the workshop's `assets` and `ui` images
under their real names, so the lab's manifests run unchanged on a cluster that pulls nothing
(localcluster imports them into its containerd, kindstack loads them into kind's nodes).

What each image must be is a fact of the lab (`labkit.lab`): this is the one module of the
tools that reads it. Each image holds a small static web server (built from localcluster's Go
module by the caller) with the lab's content, static bash and busybox applets for the lab's
commands, and the app's user.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from labkit import settings
from labkit.lab import ASSETS, UI
from stackbase.oci import BUSYBOX, PATH_ENV, BuiltImage, Layer, base_files, write_image
from stackbase.ui import ToolError

BASH_STATIC = Path("/bin/bash-static")
SERVER = "/usr/local/bin/assets-server"
ASSETS_ROOT = "/usr/share/nginx/html"  # where the real assets image (nginx) serves from


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
                raise ToolError(f"{path} is missing: apt-get install {package} (or run `python3 -m localcluster build` as root)")
        listed = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True).stdout
        return cls(BUSYBOX.read_bytes(), BASH_STATIC.read_bytes(), tuple(sorted(set(listed.split()))))


def _app_base(server: bytes, tools: StaticTools, user: str, uid: int) -> Layer:
    """A stand-in app image's base: the shell and utilities the lab's commands use, the server,
    and the app's user."""
    layer = Layer()
    base_files(layer)
    layer.file("bin/busybox", tools.busybox, 0o755)
    layer.file("bin/bash", tools.bash, 0o755)
    for applet in tools.applets:
        if applet not in ("bin/busybox", "bin/bash") and applet.count("/") >= 1:
            layer.symlink(applet, "/bin/busybox")
    layer.file(SERVER.lstrip("/"), server, 0o755)
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
    """The lab's app: it runs as the uid the S3 volume's mount options give (ASSETS.uid) and owns
    its asset directory, so it can write there with every capability dropped."""
    uid = ASSETS.uid
    layer = _app_base(server, tools, ASSETS.name, uid)
    for directory in ("usr/share", "usr/share/nginx"):
        layer.directory(directory)
    root = ASSETS_ROOT.lstrip("/")
    layer.directory(root, 0o755, uid)
    layer.file(f"{root}{ASSETS.probe_path}", b"OK\n", 0o644, uid)
    layer.file(f"{root}/index.html", b"<html><body>assets</body></html>\n", 0o644, uid)
    layer.directory(f"{root}/assets", 0o755, uid)
    # The image ships exactly the lab's product images (the suite's data folder is their one copy).
    products = sorted(settings.PRODUCT_IMAGES.glob("*.jpg"))
    if not products:
        raise ToolError(f"no product images in {settings.PRODUCT_IMAGES}: restore labkit/data/products from the repository")
    for source in products:
        layer.file(f"{root}/assets/{source.name}", source.read_bytes(), 0o644, uid)
    return layer.finish()


def write_app_images(server: bytes, tools: StaticTools, directory: Path) -> list[BuiltImage]:
    """The ui and assets images' archives in `directory`; `server` is the assets-server program."""
    return [
        write_image(
            UI.image,
            ui_layer(server, tools),
            {
                "Entrypoint": [SERVER],
                "Env": [PATH_ENV, f"PORT={UI.port}", f"ROOT=/srv/{UI.name}"],
                "ExposedPorts": {f"{UI.port}/tcp": {}},
                "User": f"{UI.uid}:{UI.uid}",
                "WorkingDir": f"/srv/{UI.name}",
                "StopSignal": "SIGTERM",
            },
            directory,
        ),
        write_image(
            ASSETS.image,
            assets_layer(server, tools),
            {
                "Entrypoint": [SERVER],
                "Env": [PATH_ENV, f"PORT={ASSETS.port}"],
                "ExposedPorts": {f"{ASSETS.port}/tcp": {}},
                "User": f"{ASSETS.uid}:{ASSETS.uid}",
                "WorkingDir": ASSETS_ROOT,
                "StopSignal": "SIGTERM",
            },
            directory,
        ),
    ]
