"""Build everything from registries, cached outside the repository and keyed by version.

- ``mount-s3``: the crate in ``s3stack/mount-s3`` over ``mountpoint-s3-fs`` (cargo, -j2).
- The CSI driver's node plugin, controller and mounter: ``go install`` of the driver module at
  its pinned version, so its own go.mod/go.sum decide every dependency.
- The S3 server: ``go install`` of versitygw at its pinned version.
- Our small Go programs (``s3stack/gosrc``): the registration and liveness sidecars.
- Helm (``labkit/helm.py``), which the suite installs the driver's chart with, when there is
  no ``helm`` on PATH.

Each result has a stamp holding the digest of its inputs; a matching stamp means no rebuild.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from labkit import gomod, helm
from s3stack.layout import CACHE_DIR, CARGO_TARGET_DIR, GO_SRC, MOUNT_S3_CRATE
from s3stack.versions import Versions
from stackbase import packages
from stackbase.shell import logged
from stackbase.ui import Progress, ToolError, fmt_duration

DRIVER_MODULE = helm.DRIVER_MODULE
DRIVER_COMMANDS = ("aws-s3-csi-driver", "aws-s3-csi-controller", "aws-s3-csi-mounter")
VERSITYGW_MODULE = "github.com/versity/versitygw"
TOOLS = ("registrar", "livenessprobe")
BUILD_DATE = "2000-01-01T00:00:00Z"
LOG = CACHE_DIR / "build.log"


@dataclass(frozen=True)
class Artifacts:
    mount_s3: Path
    driver_dir: Path
    versitygw: Path
    tools_dir: Path
    helm: str

    def driver(self, command: str) -> Path:
        return self.driver_dir / command

    def tool(self, name: str) -> Path:
        return self.tools_dir / name


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:16]


def _files_digest(root: Path, patterns: tuple[str, ...], *extra: str) -> str:
    files = sorted({path for pattern in patterns for path in root.glob(pattern) if path.is_file()})
    parts = [p for path in files for p in (str(path.relative_to(root)).encode(), path.read_bytes())]
    return _digest(*parts, *(item.encode() for item in extra))


def _fresh(stamp: Path, digest: str, outputs: list[Path]) -> bool:
    return stamp.is_file() and stamp.read_text().strip() == digest and all(path.is_file() for path in outputs)


def go_binary() -> str:
    found = gomod.go_binary()
    if not found:
        raise ToolError("`go` is missing: install the Go toolchain (/usr/local/go)")
    return found


def cargo_binary() -> str:
    found = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(found).is_file():
        raise ToolError("`cargo` is missing: install the Rust toolchain (rustup)")
    return found


def module_dir(module: str, version: str) -> Path:
    try:
        return gomod.module_dir(module, version)
    except gomod.GoError as err:
        raise ToolError(str(err)) from None


def build_mount_s3(versions: Versions, progress: Progress) -> Path:
    directory = CACHE_DIR / f"mount-s3-{versions.mountpoint_s3_fs}"
    binary, stamp = directory / "mount-s3", directory / ".stamp"
    digest = _files_digest(MOUNT_S3_CRATE, ("Cargo.toml", "Cargo.lock", "src/**/*.rs"))
    if _fresh(stamp, digest, [binary]):
        return binary
    progress.note(f"building mount-s3 (mountpoint-s3-fs {versions.mountpoint_s3_fs}); cold: about 5 min on 2 cores")
    command = [cargo_binary(), "build", "--release", "-j2"]
    if (MOUNT_S3_CRATE / "Cargo.lock").is_file():
        command.append("--locked")
    seconds = logged(command, LOG, "mount-s3", progress, cwd=MOUNT_S3_CRATE, env={"CARGO_TARGET_DIR": str(CARGO_TARGET_DIR)})
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(CARGO_TARGET_DIR / "release" / "mount-s3", binary)
    stamp.write_text(digest + "\n")
    progress.note(f"built mount-s3 in {fmt_duration(seconds)}")
    return binary


def _go_build_in_module(
    module: str, version: str, commands: list[str], directory: Path, ldflags: str, label: str, progress: Progress
) -> None:
    """`go build` inside the downloaded module (its own go.mod and go.sum decide every dependency).

    Not `go install module@version`: that also asks the proxy for the module's version list
    (for deprecation notices), which the module proxy here refuses for some modules."""
    source = module_dir(module, version)
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        go_binary(),
        "build",
        "-p",
        "2",
        "-trimpath",
        "-ldflags",
        ldflags,
        "-o",
        str(directory) + "/",
        *(f"./cmd/{name}" for name in commands),
    ]
    seconds = logged(command, LOG, label, progress, cwd=source, env=gomod.env())
    progress.note(f"built {label} in {fmt_duration(seconds)}")


def build_driver(versions: Versions, progress: Progress) -> Path:
    version = versions.csi_driver
    directory = CACHE_DIR / f"csi-driver-{version}"
    stamp = directory / ".stamp"
    package = f"{DRIVER_MODULE}/pkg/driver/version"
    ldflags = f"-s -w -X {package}.driverVersion={version} -X {package}.gitCommit={version} -X {package}.buildDate={BUILD_DATE}"
    digest = _digest(version.encode(), ldflags.encode())
    if not _fresh(stamp, digest, [directory / name for name in DRIVER_COMMANDS]):
        progress.note(f"building the Mountpoint CSI driver {version} (node plugin, controller, mounter)")
        _go_build_in_module(DRIVER_MODULE, version, list(DRIVER_COMMANDS), directory, ldflags, "csi-driver", progress)
        stamp.write_text(digest + "\n")
    return directory


def build_versitygw(versions: Versions, progress: Progress) -> Path:
    directory = CACHE_DIR / f"versitygw-{versions.versitygw}"
    binary, stamp = directory / "versitygw", directory / ".stamp"
    digest = _digest(versions.versitygw.encode())
    if not _fresh(stamp, digest, [binary]):
        progress.note(f"building the S3 server versitygw {versions.versitygw}")
        _go_build_in_module(VERSITYGW_MODULE, versions.versitygw, ["versitygw"], directory, "-s -w", "versitygw", progress)
        stamp.write_text(digest + "\n")
    return binary


def build_tools(progress: Progress) -> Path:
    digest = _files_digest(GO_SRC, ("go.mod", "go.sum", "cmd/**/*.go"))
    directory = CACHE_DIR / f"tools-{digest}"
    if not _fresh(directory / ".stamp", digest, [directory / name for name in TOOLS]):
        progress.note("building the registration and liveness sidecars (s3stack/gosrc)")
        directory.mkdir(parents=True, exist_ok=True)
        for name in TOOLS:
            command = [go_binary(), "build", "-p", "2", "-trimpath", "-ldflags", "-s -w", "-o", str(directory / name), f"./cmd/{name}"]
            logged(command, LOG, name, progress, cwd=GO_SRC, env=gomod.env())
        (directory / ".stamp").write_text(digest + "\n")
    return directory


def build_all(versions: Versions, progress: Progress) -> Artifacts:
    """Build what is missing, one heavy build at a time (2 cores)."""
    packages.ensure(progress.note, versions.debian_packages)
    mount_s3 = build_mount_s3(versions, progress)
    driver_dir = build_driver(versions, progress)
    versitygw = build_versitygw(versions, progress)
    tools_dir = build_tools(progress)
    try:
        helm_binary = helm.ensure(progress.note)
    except helm.HelmUnavailable as err:
        raise ToolError(str(err)) from None
    return Artifacts(mount_s3, driver_dir, versitygw, tools_dir, helm_binary)


def artifacts(versions: Versions, progress: Progress) -> Artifacts:
    """The artifacts, building only what is missing (a warm call takes about a second)."""
    return build_all(versions, progress)
