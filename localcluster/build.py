"""Build the Kubernetes components and etcd from Go modules, cached by version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from localcluster.layout import CACHE_DIR
from localcluster.versions import Versions, check_go_mod
from stackbase.gobuild import go_build, inputs_digest
from stackbase.ui import Progress

# The components that the single `labkube` binary holds; each is a symlink to it.
KUBE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")


@dataclass(frozen=True)
class Binaries:
    kube_dir: Path
    etcd: Path

    def kube(self, component: str) -> Path:
        return self.kube_dir / component

    def stamps(self) -> tuple[str, str]:
        """The digests of the inputs the Kubernetes binaries and etcd were built from."""
        return (self.kube_dir / ".built").read_text(), (self.etcd.parent / ".built").read_text()


def kube_dir(versions: Versions) -> Path:
    return CACHE_DIR / f"kube-{versions.kubernetes}"


def etcd_dir(versions: Versions) -> Path:
    return CACHE_DIR / f"etcd-{versions.etcd}"


def binaries(versions: Versions) -> Binaries:
    return Binaries(kube_dir(versions), etcd_dir(versions) / "etcd")


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


def _stamp_ok(directory: Path, digest: str, files: list[Path]) -> bool:
    stamp = directory / ".built"
    return stamp.is_file() and stamp.read_text().strip() == digest and all(f.is_file() for f in files)


def _cached_build(
    source: Path, directory: Path, binary: Path, package: str, ldflags: str, label: str, progress: Progress, cold_note: str
) -> bool:
    """Build `package` into `binary` unless the stamp says these inputs built it; True if built."""
    digest = inputs_digest(package.rsplit("/", 1)[-1], ldflags, source=source)
    if _stamp_ok(directory, digest, [binary]):
        progress.note(f"{label} cached in {directory}")
        return False
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ".built").unlink(missing_ok=True)
    if cold_note:
        progress.note(cold_note)
    go_build(package, binary, ldflags, directory / "build.log", label, source)
    (directory / ".built").write_text(digest + "\n")
    return True


def build_kube(versions: Versions, progress: Progress) -> Path:
    directory = kube_dir(versions)
    note = f"compiling {', '.join(KUBE_COMPONENTS)} into one binary (cold: ~4 min here on 2 cores)"
    binary = directory / "labkube"
    label = f"kube binaries {versions.kubernetes}"
    _cached_build(versions.source, directory, binary, "./cmd/labkube", version_ldflags(versions), label, progress, note)
    for component in (*KUBE_COMPONENTS, "kubectl"):
        link = directory / component
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to("labkube")
    return directory


def build_etcd(versions: Versions, progress: Progress) -> Path:
    directory = etcd_dir(versions)
    binary = directory / "etcd"
    _cached_build(versions.source, directory, binary, "./cmd/labetcd", "-s -w", f"etcd {versions.etcd}", progress, "")
    return binary


def build_kubernetes(versions: Versions, progress: Progress) -> Binaries:
    """The pinned binaries, built when their inputs changed, for a caller that numbers its own
    steps (kindstack's node image holds the same ones)."""
    check_go_mod(versions)
    build_kube(versions, progress)
    build_etcd(versions, progress)
    return binaries(versions)


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
