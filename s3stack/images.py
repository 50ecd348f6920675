"""The images the S3 variant runs without AWS, written here as docker archives and imported into
the cluster's containerd under the names the driver's chart renders (``helm template``) and the
suite's in-cluster S3 server uses:

- the driver image (node plugin, controller and Mountpoint pods share it, as upstream):
  ``/bin/aws-s3-csi-driver``, ``/bin/aws-s3-csi-controller``, ``/bin/aws-s3-csi-mounter``,
  ``/mountpoint-s3/bin/mount-s3`` (``MOUNTPOINT_BIN_DIR``) with the shared libraries it links
  (libfuse 2 from Debian, glibc) at their own paths, and static busybox for mount/umount;
- the node registration sidecar (``/csi-node-driver-registrar``);
- the liveness sidecar (``/livenessprobe``);
- the S3 server, versitygw (``/usr/local/bin/versitygw``, the path upstream's image has).

The archive writer is the tools' shared one (``stackbase.oci``); the import goes through the
local cluster's ``ctr``.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from labkit import helm, mountpoint, settings
from localcluster import IMAGES_MARK_DIR, ctr
from s3stack.build import Artifacts, build_all
from s3stack.layout import IMAGES_DIR
from s3stack.versions import Versions
from s3stack.versions import load as load_versions
from stackbase.oci import BUSYBOX, PATH_ENV, PINNED_LABEL, BuiltImage, Layer, program_base, single_binary_layer, write_image
from stackbase.ui import Progress, ToolError

MOUNTPOINT_BIN_DIR = "/mountpoint-s3/bin"
SERVER_BINARY = "/usr/local/bin/versitygw"
# The CRT's default credentials chain builds a TLS context (for its STS/IMDS/ECS providers) even
# when the endpoint is plain HTTP, and fails (CRT error 1173) without a CA bundle in the image.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class ImageNames:
    driver: str
    registrar: str
    liveness: str
    server: str


def chart_manifest(artifacts: Artifacts, versions: Versions) -> str:
    """The driver's chart as the suite installs it (same values), rendered without a cluster."""
    try:
        return helm.template(
            artifacts.helm,
            helm.driver_chart(),
            "s3-csi",
            mountpoint.NAMESPACE,
            list(helm.DRIVER_VALUES),
            versions.kubernetes,
            timeout=settings.Timeouts().helm,  # the tool's bound (no --timeout-scale there)
        )
    except helm.HelmUnavailable as err:
        raise ToolError(str(err)) from None


def names_from_manifest(manifest: str) -> ImageNames:
    """Read the image names from the rendered chart (container images and MOUNTPOINT_IMAGE)."""
    images: set[str] = set(re.findall(r"^\s*(?:-\s*)?image:\s*[\"']?([^\"'\s]+)", manifest, re.MULTILINE))

    def pick(fragment: str) -> str:
        found = sorted(image for image in images if fragment in image)
        if len(found) != 1:
            raise ToolError(f"the rendered chart has {len(found)} images matching {fragment!r} ({sorted(images)}): check the chart")
        return found[0]

    return ImageNames(
        driver=pick("aws-mountpoint-s3-csi-driver"),
        registrar=pick("node-driver-registrar"),
        liveness=pick("livenessprobe"),
        server=settings.s3_server_image(),
    )


def shared_libraries(binary: Path) -> dict[str, Path]:
    """The libraries `binary` loads (ldd), by the path the loader looks them up at."""
    result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ToolError(f"ldd {binary} failed: {result.stderr.strip()}")
    libraries: dict[str, Path] = {}
    for line in result.stdout.splitlines():
        match = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if match:
            libraries[match.group(1)] = Path(match.group(1)).resolve()
    if not any("libfuse.so" in path for path in libraries):
        raise ToolError(f"{binary} does not link libfuse: rebuild it (apt-get install libfuse-dev)")
    return libraries


def driver_layer(artifacts: Artifacts) -> bytes:
    layer = Layer()
    program_base(layer)
    for parent in ("lib/x86_64-linux-gnu", "mountpoint-s3", "mountpoint-s3/bin", "etc/ssl", "etc/ssl/certs"):
        layer.directory(parent)
    if not CA_BUNDLE.is_file():
        raise ToolError(f"{CA_BUNDLE} is missing: apt-get install ca-certificates")
    layer.file(str(CA_BUNDLE).lstrip("/"), CA_BUNDLE.read_bytes())
    busybox = BUSYBOX.read_bytes() if BUSYBOX.is_file() else None
    if busybox is None:
        raise ToolError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    layer.file("bin/busybox", busybox, 0o755)
    for applet in ("sh", "mount", "umount", "ls", "cat", "mkdir", "rm", "sleep", "grep", "ps"):
        layer.symlink(f"bin/{applet}", "/bin/busybox")
    for command in ("aws-s3-csi-driver", "aws-s3-csi-controller", "aws-s3-csi-mounter"):
        layer.file(f"bin/{command}", artifacts.driver(command).read_bytes(), 0o755)
    layer.file(f"{MOUNTPOINT_BIN_DIR.lstrip('/')}/mount-s3", artifacts.mount_s3.read_bytes(), 0o755)
    for path, real in sorted(shared_libraries(artifacts.mount_s3).items()):
        layer.file(path.lstrip("/"), real.read_bytes(), 0o755)
    return layer.finish()


def build_images(names: ImageNames, artifacts: Artifacts, versions: Versions, progress: Progress) -> list[BuiltImage]:
    images = [
        write_image(
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
            IMAGES_DIR,
        ),
        write_image(
            names.registrar,
            single_binary_layer("/csi-node-driver-registrar", artifacts.tool("registrar")),
            {"Entrypoint": ["/csi-node-driver-registrar"], "Env": [PATH_ENV]},
            IMAGES_DIR,
        ),
        write_image(
            names.liveness,
            single_binary_layer("/livenessprobe", artifacts.tool("livenessprobe")),
            {"Entrypoint": ["/livenessprobe"], "Env": [PATH_ENV]},
            IMAGES_DIR,
        ),
        write_image(
            names.server,
            single_binary_layer(SERVER_BINARY, artifacts.versitygw),
            {"Entrypoint": [SERVER_BINARY], "Env": [PATH_ENV], "ExposedPorts": {f"{settings.S3_SERVER_PORT}/tcp": {}}},
            IMAGES_DIR,
        ),
    ]
    progress.note("wrote images: " + ", ".join(image.name for image in images))
    return images


def built_images(progress: Progress) -> list[BuiltImage]:
    """Every image, building what is missing (kindstack loads the same ones into kind's nodes)."""
    versions = load_versions()
    artifacts = build_all(versions, progress)
    return build_images(names_from_manifest(chart_manifest(artifacts, versions)), artifacts, versions, progress)


def import_images(images: list[BuiltImage], progress: Progress) -> list[str]:
    """Import the archives that containerd lacks or holds in another build, pinned against GC;
    returns the names imported now. containerd stores a short name (``owner/repo:tag``) under
    its normalized form, which `ctr images import` prints; the mark keeps that form."""
    IMAGES_MARK_DIR.mkdir(parents=True, exist_ok=True)
    imported: list[str] = []
    stored: list[str] = []
    try:
        present = set(ctr("images", "ls", "-q").split())
        for image in images:
            mark = IMAGES_MARK_DIR / ("s3stack-" + image.archive.name + ".digest")
            digest, _, name = [*mark.read_text().split(), "", ""][:3] if mark.is_file() else ("", "", "")
            if name in present and digest == image.digest:
                stored.append(name)
                continue
            output = ctr("images", "import", str(image.archive), timeout=300)
            found = re.findall(r"unpacking (\S+) \(sha256:", output)
            name = found[0] if found else image.name
            ctr("images", "label", name, PINNED_LABEL)
            mark.write_text(f"{image.digest} as {name}\n")
            imported.append(image.name)
            stored.append(name)
            progress.note(f"imported {image.name}" + (f" (stored as {name})" if name != image.name else ""))
        present = set(ctr("images", "ls", "-q").split())
    except ToolError as err:
        raise ToolError(f"{err}: is the local cluster up? (python3 -m localcluster up)") from None
    missing = [name for name in stored if name not in present]
    if missing:
        raise ToolError(f"images not in containerd after import: {', '.join(missing)}")
    return imported
