"""Build the Kubernetes components and etcd from Go modules, cached by version."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from localcluster.layout import CACHE_DIR, GO_SRC
from localcluster.ui import ClusterError, Progress, fmt_duration, say
from localcluster.versions import Versions, check_go_mod

# The components that the single `labkube` binary holds; each is a symlink to it.
KUBE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
HEARTBEAT_SECONDS = 60


@dataclass(frozen=True)
class Binaries:
    kube_dir: Path
    etcd: Path

    def kube(self, component: str) -> Path:
        return self.kube_dir / component


def kube_dir(versions: Versions) -> Path:
    return CACHE_DIR / f"kube-{versions.kubernetes}"


def etcd_dir(versions: Versions) -> Path:
    return CACHE_DIR / f"etcd-{versions.etcd}"


def binaries(versions: Versions) -> Binaries:
    return Binaries(kube_dir(versions), etcd_dir(versions) / "etcd")


def inputs_digest(command: str, *extra: str, source: Path = GO_SRC) -> str:
    """Digest of go.mod, go.sum and one command's sources: a change to them means a rebuild."""
    digest = hashlib.sha256()
    files = [source / "go.mod", source / "go.sum", *sorted((source / "cmd" / command).glob("*.go"))]
    for path in files:
        digest.update(str(path.relative_to(source)).encode())
        digest.update(path.read_bytes())
    for item in extra:
        digest.update(item.encode())
    return digest.hexdigest()[:16]


def version_ldflags(versions: Versions) -> str:
    major, minor = versions.major_minor
    # A fixed date keeps the binaries reproducible for one pin.
    build_date = "2000-01-01T00:00:00Z"
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={versions.kubernetes}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.buildDate={build_date}",
        ]
    return " ".join(flags)


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        raise ClusterError("`go` is not on PATH: install Go 1.26 or newer and put it on PATH")
    return go


def go_build(package: str, output: Path, ldflags: str, log: Path, label: str, source: Path = GO_SRC) -> None:
    """Run one `go build`, logging to `log` and printing a heartbeat while it runs."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    command = [go_binary(), "build", "-p", "2", "-trimpath", "-ldflags", ldflags, "-o", str(tmp), package]
    started = time.monotonic()
    with log.open("a") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        sink.flush()
        process = subprocess.Popen(command, cwd=source, env=go_env(), stdout=sink, stderr=subprocess.STDOUT)
        while True:
            try:
                code = process.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                say(f"           ... still building {label} ({fmt_duration(time.monotonic() - started)})")
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise ClusterError(f"go build of {label} failed (see {log}); last lines:\n{tail}")
    tmp.replace(output)


def _stamp_ok(directory: Path, digest: str, files: list[Path]) -> bool:
    stamp = directory / ".built"
    return stamp.is_file() and stamp.read_text().strip() == digest and all(f.is_file() for f in files)


def _cached_build(directory: Path, binary: Path, package: str, ldflags: str, label: str, progress: Progress, cold_note: str) -> bool:
    """Build `package` into `binary` unless the stamp says these inputs built it; True if built."""
    digest = inputs_digest(package.rsplit("/", 1)[-1], ldflags)
    if _stamp_ok(directory, digest, [binary]):
        progress.note(f"{label} cached in {directory}")
        return False
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ".built").unlink(missing_ok=True)
    if cold_note:
        progress.note(cold_note)
    go_build(package, binary, ldflags, directory / "build.log", label)
    (directory / ".built").write_text(digest + "\n")
    return True


def build_kube(versions: Versions, progress: Progress) -> Path:
    directory = kube_dir(versions)
    note = f"compiling {', '.join(KUBE_COMPONENTS)} into one binary (cold: ~4 min here on 2 cores)"
    binary = directory / "labkube"
    _cached_build(directory, binary, "./cmd/labkube", version_ldflags(versions), f"kube binaries {versions.kubernetes}", progress, note)
    for component in KUBE_COMPONENTS:
        link = directory / component
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to("labkube")
    return directory


def build_etcd(versions: Versions, progress: Progress) -> Path:
    directory = etcd_dir(versions)
    binary = directory / "etcd"
    _cached_build(directory, binary, "./cmd/labetcd", "-s -w", f"etcd {versions.etcd}", progress, "")
    return binary


def build_all(versions: Versions, progress: Progress) -> Binaries:
    check_go_mod(versions)
    progress.step(f"building kube binaries {versions.kubernetes}")
    build_kube(versions, progress)
    progress.step(f"building etcd {versions.etcd}")
    build_etcd(versions, progress)
    return binaries(versions)


def built(versions: Versions) -> bool:
    found = binaries(versions)
    return (
        (found.kube_dir / ".built").is_file()
        and (etcd_dir(versions) / ".built").is_file()
        and (found.kube("labkube").is_file() and found.etcd.is_file())
    )
