"""Container images built on this machine: the pod sandbox (pause) and the lab's app images
(`stackbase.labimages`), each imported into containerd's ``k8s.io`` namespace under the exact
name the manifests use (no registry is reachable)."""

from __future__ import annotations

from localcluster.layout import CACHE_DIR, GO_SRC, IMAGES_MARK_DIR
from localcluster.runtime import ctr
from localcluster.versions import Versions
from stackbase.gobuild import go_build, inputs_digest
from stackbase.labimages import StaticTools, write_app_images
from stackbase.oci import PINNED_LABEL, BuiltImage, pause_layer, write_image
from stackbase.ui import Progress, ToolError

BUILD_DIR = CACHE_DIR / "images"
PAUSE_BINARY = BUILD_DIR / "labpause"  # the pod sandbox's program (kind's node image uses it too)


def build_images(versions: Versions, progress: Progress) -> list[BuiltImage]:
    """Build every archive (seconds: two small static Go programs and a few tarballs)."""
    directory = BUILD_DIR
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "build.log"
    pause_bin, server_bin = PAUSE_BINARY, directory / "assets-server"
    for command, binary in (("labpause", pause_bin), ("assets-server", server_bin)):
        stamp = directory / f".built-{command}"
        digest = inputs_digest(command, "-s -w", source=GO_SRC)
        if not (binary.is_file() and stamp.is_file() and stamp.read_text().strip() == digest):
            go_build(f"./cmd/{command}", binary, "-s -w", log, command, GO_SRC)
            stamp.write_text(digest + "\n")
    images = [
        write_image(
            versions.pause_image,
            pause_layer(pause_bin.read_bytes()),
            {"Entrypoint": ["/pause"], "User": "65535:65535"},
            directory,
        ),
        *write_app_images(server_bin.read_bytes(), StaticTools.from_host(), directory),
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
            raise ToolError(f"image {image.name} is not in containerd after import: see logs/containerd.log")
