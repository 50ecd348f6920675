"""kindstack's pure parts: what it asks of kubeadm, copies from the node, and gives kind.

The engine and the node image themselves are exercised by CI's kind run (`tox -e kind`);
these tests pin the decisions that run depends on, each of which once broke it.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

import localcluster
from kindstack import cli, engine, images, labnet, nodeimage
from kindstack import host as kind_host
from kindstack.layout import GO_SRC
from kindstack.versions import Versions, load
from labkit.kindenv import KIND_NODE_IMAGE_ENV
from stackbase import sysctl
from stackbase.gobuild import go_env
from stackbase.ui import Progress, ToolError
from stackbase.versions import load_pins


@pytest.fixture(scope="module")
def versions() -> Versions:
    return load(pins_only=True)


def kubeadm_listing(versions: Versions, coredns: str | None = None) -> str:
    names = [f"registry.k8s.io/{c}:{versions.kubernetes}" for c in images.KUBE_IMAGE_COMPONENTS]
    names += [f"registry.k8s.io/coredns/coredns:{coredns or versions.coredns}", "registry.k8s.io/pause:3.10.2"]
    names += [f"registry.k8s.io/etcd:{versions.etcd_tag}"]
    return "\n".join(names) + "\n"


def test_kubeadm_images_are_grouped_by_the_image_built_for_them(versions: Versions) -> None:
    groups = images.wanted_by_kubeadm(kubeadm_listing(versions), versions)
    assert len(groups["kube"]) == 4
    assert groups["coredns"] == [f"registry.k8s.io/coredns/coredns:{versions.coredns}"]
    assert groups["etcd"] == [f"registry.k8s.io/etcd:{versions.etcd_tag}"]
    assert groups["pause"] == ["registry.k8s.io/pause:3.10.2"]


def test_a_coredns_pin_kubeadm_does_not_install_names_the_fix(versions: Versions) -> None:
    with pytest.raises(ToolError, match=re.escape("set COREDNS_VERSION=v9.9.9 in versions.env")):
        images.wanted_by_kubeadm(kubeadm_listing(versions, coredns="v9.9.9"), versions)


def test_an_image_kindstack_cannot_build_is_refused(versions: Versions) -> None:
    with pytest.raises(ToolError, match=re.escape("does not build: registry.k8s.io/kube-foo:v1")):
        images.wanted_by_kubeadm(kubeadm_listing(versions) + "registry.k8s.io/kube-foo:v1\n", versions)


def test_a_listing_without_etcd_is_refused(versions: Versions) -> None:
    listing = "\n".join(line for line in kubeadm_listing(versions).splitlines() if "etcd" not in line)
    with pytest.raises(ToolError, match="names no etcd image"):
        images.wanted_by_kubeadm(listing, versions)


def another_release(versions: Versions, tmp_path: Path) -> Versions:
    """`versions` as they are for a release other than the pin (built from a generated module)."""
    return replace(versions, cluster=replace(versions.cluster, kubernetes="v1.35.4", etcd="v3.6.5", source=tmp_path))


def test_another_releases_kubeadm_runs_coredns_and_etcd_at_its_own_versions(versions: Versions, tmp_path: Path) -> None:
    other = another_release(versions, tmp_path)
    listing = kubeadm_listing(other, coredns="v1.13.1").replace(other.etcd_tag, "3.6.6-0")
    groups = images.wanted_by_kubeadm(listing, other)  # no pin to match: not refused
    assert (images.kubeadm_version(groups, "coredns"), images.kubeadm_version(groups, "etcd")) == ("v1.13.1", "v3.6.6")
    with pytest.raises(ToolError, match=r"set COREDNS_VERSION=v1\.13\.1"):
        images.wanted_by_kubeadm(listing, versions)


def test_the_node_image_takes_the_pins_builds_only_where_kubeadm_runs_those_versions(
    versions: Versions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[tuple[str, str, str]] = []

    def at_version(command: str, source: Path, module: str, version: str, progress: Progress) -> Path:
        built.append((command, module, version))
        return tmp_path / f"{command}-{version}"

    monkeypatch.setattr(nodeimage, "at_version", at_version)
    binaries = localcluster.Binaries(tmp_path / "kube", tmp_path / "etcd-pinned")
    programs = {"labcoredns": tmp_path / "coredns-pinned"}
    other = another_release(versions, tmp_path)
    groups = images.wanted_by_kubeadm(kubeadm_listing(other, coredns="v1.13.1").replace(other.etcd_tag, "3.6.6-0"), other)
    assert nodeimage.coredns_and_etcd(other, binaries, programs, groups, Progress(1)) == (
        tmp_path / "labcoredns-v1.13.1",
        tmp_path / "labetcd-v3.6.6",
    )
    assert built == [("labcoredns", nodeimage.COREDNS_MODULE, "v1.13.1"), ("labetcd", nodeimage.ETCD_MODULE, "v3.6.6")]
    built.clear()
    groups = images.wanted_by_kubeadm(kubeadm_listing(versions), versions)
    assert nodeimage.coredns_and_etcd(versions, binaries, programs, groups, Progress(1)) == (programs["labcoredns"], binaries.etcd)
    assert built == [], "the pinned release builds nothing more"


def test_a_new_node_image_replaces_only_earlier_builds_of_its_own_release() -> None:
    repo = "localhost/kindstack/node"
    present = [f"{repo}:v1.36.3-aaa", f"{repo}:v1.36.3-bbb", f"{repo}:v1.35.4-ccc", f"{repo}:v1.36.30-ddd"]
    assert nodeimage.superseded(f"{repo}:v1.36.3-bbb", present) == [f"{repo}:v1.36.3-aaa"]


def test_online_another_release_is_kinds_own_build_of_its_published_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv_file = tmp_path / "argv"
    kind = tmp_path / "kind"
    kind.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {argv_file}\necho "DOCKER_HOST=$DOCKER_HOST" >> {argv_file}\n')
    kind.chmod(0o755)
    monkeypatch.setattr(nodeimage, "LOG", tmp_path / "build.log")

    class Engine:
        def __init__(self, present: str) -> None:
            self.present = present

        def env(self) -> dict[str, str]:
            return {"DOCKER_HOST": "unix:///run/runner/docker.sock"}

        def docker(self, *args: str, **_: object) -> str:
            return self.present

    name = nodeimage.published_release_image(Engine(""), kind, "v1.35.4", Progress(1))  # type: ignore[arg-type]
    assert name == "localhost/kindstack/release-node:v1.35.4"
    assert argv_file.read_text().splitlines() == [
        *("build", "node-image", "--type", "release", "v1.35.4", "--image", name),
        "DOCKER_HOST=unix:///run/runner/docker.sock",
    ]
    argv_file.unlink()
    assert nodeimage.published_release_image(Engine("sha256:1"), kind, "v1.35.4", Progress(1)) == name  # type: ignore[arg-type]
    assert not argv_file.exists(), "an image in the engine is not built again"
    kind.write_text("#!/bin/sh\nexit 3\n")
    with pytest.raises(ToolError, match=r"kind build node-image --type release v1\.35\.4 failed \(exit 3\)"):
        nodeimage.published_release_image(Engine(""), kind, "v1.35.4", Progress(1))  # type: ignore[arg-type]


@pytest.mark.parametrize("command", ["build", "up", "run"])
def test_kindstacks_commands_take_the_kubernetes_release(command: str) -> None:
    args = cli.parser().parse_args([command, "--kubernetes-version", "1.35"])
    assert args.kubernetes_version == "1.35"


def test_etcd_tag_follows_the_pin(versions: Versions) -> None:
    pinned = replace(versions, cluster=replace(versions.cluster, etcd="v3.6.8"))
    assert pinned.etcd_tag == "3.6.8-0"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/lib/x86_64-linux-gnu/libm.so.6", "usr/lib/x86_64-linux-gnu/libm.so.6"),
        ("/usr/sbin/x", "usr/sbin/x"),
        ("/lib64/ld.so", "usr/lib64/ld.so"),
        ("/etc/a", "etc/a"),
    ],
)
def test_paths_resolve_through_merged_usr(path: str, expected: str) -> None:
    assert images.under_usr(path) == expected


def test_iptables_paths_name_each_file_once() -> None:
    """ldd prints each extension as a header and libm twice (/lib and /usr/lib): tar would write
    the repeats as hard links to themselves, which containerd cannot unpack."""
    xtables = images.XTABLES_DIR
    ldd = f"{xtables}/libxt_statistic.so /lib/x86_64-linux-gnu/libm.so.6 /usr/lib/x86_64-linux-gnu/libm.so.6 {xtables}/libarpt_mangle.so"
    paths = images.iptables_paths(ldd)
    assert len(paths) == len(set(paths)), paths
    assert paths[0] == images.under_usr(xtables)
    assert not [p for p in paths[1:] if p.startswith(paths[0] + "/")], paths
    assert "usr/lib/x86_64-linux-gnu/libm.so.6" in paths
    assert {images.under_usr(p) for p in images.IPTABLES_FILES} <= set(paths)


def test_kube_layer_keeps_hard_links_after_their_targets(tmp_path: Path) -> None:
    node = io.BytesIO()
    with tarfile.open(fileobj=node, mode="w") as tar:
        for name, kind in (("usr/lib/x", tarfile.REGTYPE), ("usr/lib/y", tarfile.LNKTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "usr/lib/x" if kind == tarfile.LNKTYPE else ""
            info.size = 0
            tar.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    labkube = tmp_path / "labkube"
    labkube.write_bytes(b"\x7fELF")
    with tarfile.open(fileobj=io.BytesIO(images.kube_layer(labkube, node.getvalue()))) as layer:
        members = layer.getmembers()
    names = [m.name for m in members]
    assert len(names) == len(set(names)), f"repeated entries: {names}"
    for index, member in enumerate(members):
        if member.islnk():
            assert member.linkname != member.name, f"{member.name} is a hard link to itself"
            assert member.linkname in names[:index], f"{member.name} links to {member.linkname}, not written before it"
    links = {m.name: m.linkname for m in members if m.issym()}
    assert all(links[f"usr/local/bin/{c}"] == "labkube" for c in images.KUBE_IMAGE_COMPONENTS)
    assert all(links[f"usr/sbin/{c}"] == "iptables-wrapper" for c in images.IPTABLES_COMMANDS)


def test_containerd_may_only_restrict_oom_scores() -> None:
    kind = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  restrict_oom_score_adj = false\n  sandbox_image = "registry.k8s.io/pause:3.10"\n'
    config = nodeimage.node_containerd_config(kind)
    assert "restrict_oom_score_adj = true" in config
    assert "= false" not in config
    assert nodeimage.sandbox_image(config) == "registry.k8s.io/pause:3.10"
    with pytest.raises(ToolError, match="no sandbox_image"):
        nodeimage.sandbox_image("version = 2\n")


def test_cri_base_spec_is_kinds_edit_of_the_default() -> None:
    default = {"ociVersion": "1.2.0", "process": {"rlimits": [{"type": "RLIMIT_NOFILE"}], "args": []}}
    spec = json.loads(nodeimage.cri_base_spec(json.dumps(default)))
    assert "rlimits" not in spec["process"]
    assert spec["hooks"]["createContainer"] == [{"path": "/kind/bin/mount-product-files.sh"}]


def test_labnet_manifest_is_patched_by_kind_and_runs_on_every_node() -> None:
    text = labnet.manifest("localhost/kindstack/labnet:abc")
    assert "would you kindly patch this file" in text.splitlines()[1], "kind substitutes the API server address only behind its marker"
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(text)}
    pod = docs["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["tolerations"] == [{"operator": "Exists"}]
    container = pod["containers"][0]
    assert (container["image"], container["imagePullPolicy"]) == ("localhost/kindstack/labnet:abc", "Never")
    assert docs["ClusterRole"]["rules"][0]["resources"] == ["nodes"]


def test_the_engine_leaves_the_hosts_network_alone(tmp_path: Path) -> None:
    config = engine.daemon_config(tmp_path / "labrunc")
    assert (config["iptables"], config["ip6tables"], config["ip-forward"], config["bridge"]) == (False, False, False, "none")
    assert config["default-runtime"] == "labrunc"
    assert config["runtimes"] == {"labrunc": {"path": str(tmp_path / "labrunc")}}


def test_labrunc() -> None:
    """The runtime wrapper's own Go tests: the capability filter and runc's argument parsing."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not on PATH: kindstack builds labrunc with it")
    result = subprocess.run([go, "test", "./cmd/labrunc/"], cwd=GO_SRC, env=go_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def fake_proc_sys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in /proc/sys and state directory; every tunable is 0 before `up`."""
    monkeypatch.setattr(sysctl, "PROC_SYS", tmp_path / "sys")
    monkeypatch.setattr(kind_host, "STATE_DIR", tmp_path / "state")
    monkeypatch.setattr(kind_host, "RECORD", tmp_path / "state" / "host.json")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(engine, "stop", lambda progress: [])
    for key in (*sysctl.KUBELET_TUNABLES, *kind_host.NODE_SYSCTLS):
        (tmp_path / "sys" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "sys" / key).write_text("0\n")
    return tmp_path / "sys"


def _up_until_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """`up` as far as starting the engine, which must find the host's values recorded."""

    def no_engine(mode: str, versions: Versions, progress: Progress) -> engine.Engine:
        assert kind_host.RECORD.is_file(), "the engine starts before the host's values are recorded"
        raise ToolError("no engine in a unit test")

    monkeypatch.setattr(cli, "_engine", no_engine)
    with pytest.raises(ToolError, match="no engine in a unit test"):
        cli.up("auto")


def test_down_puts_back_the_tunables_kinds_kubelets_and_nodes_set(
    fake_proc_sys: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _up_until_the_engine(monkeypatch)
    for key, value in sysctl.KUBELET_TUNABLES.items():  # a kind node's kubelet, privileged
        (fake_proc_sys / key).write_text(value)
    (fake_proc_sys / "kernel/pid_max").write_text("4194304")  # the node's systemd-sysctl
    cli.down()  # as from a later process: everything it needs is in the record file
    assert {key: (fake_proc_sys / key).read_text().strip() for key in (*sysctl.KUBELET_TUNABLES, *kind_host.NODE_SYSCTLS)} == dict.fromkeys(
        (*sysctl.KUBELET_TUNABLES, *kind_host.NODE_SYSCTLS), "0"
    )
    assert not kind_host.RECORD.exists()
    assert "kernel tunables as they were" in capsys.readouterr().out


def test_a_second_up_keeps_the_values_from_before_the_first(fake_proc_sys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _up_until_the_engine(monkeypatch)
    (fake_proc_sys / "kernel/panic").write_text("10")
    _up_until_the_engine(monkeypatch)  # `up` again before `down`: the kubelet's value is not "before"
    cli.down()
    assert (fake_proc_sys / "kernel/panic").read_text() == "0"


def test_down_names_in_one_line_what_it_could_not_put_back(fake_proc_sys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _up_until_the_engine(monkeypatch)
    (fake_proc_sys / "kernel/panic").unlink()
    (fake_proc_sys / "kernel/panic").mkdir()  # unwritable
    with pytest.raises(ToolError) as left:
        cli.down()
    assert "\n" not in str(left.value)
    assert "not restored: sysctl kernel.panic=0 (" in str(left.value)
    assert "kindstack down` again" in str(left.value)
    assert kind_host.RECORD.is_file()  # kept, for the next `down`


def test_down_puts_them_back_also_when_the_engine_did_not_stop(fake_proc_sys: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _up_until_the_engine(monkeypatch)
    (fake_proc_sys / "vm/overcommit_memory").write_text("1")

    def broken_stop(progress: Progress) -> list[str]:
        raise ToolError("`docker rm` failed")

    monkeypatch.setattr(engine, "stop", broken_stop)
    with pytest.raises(ToolError, match="docker rm"):
        cli.down()
    assert (fake_proc_sys / "vm/overcommit_memory").read_text() == "0"
    assert kind_host.RECORD.is_file()


@pytest.fixture
def own_engine_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The engine's paths in a temporary directory, so nothing of a real engine is touched."""
    for name, path in {
        "DOCKER_PID": tmp_path / "docker.pid",
        "DOCKER_DATA": tmp_path / "data",
        "DOCKER_EXEC": tmp_path / "exec",
        "DOCKER_SOCKET": tmp_path / "docker.sock",
        "DAEMON_JSON": tmp_path / "daemon.json",
    }.items():
        monkeypatch.setattr(engine, name, path)
    monkeypatch.setattr(engine, "_answers", lambda env: False)
    monkeypatch.setattr(engine, "STOP_SECONDS", 10.0)
    return tmp_path


def _started(process: subprocess.Popen[bytes], program: str) -> None:
    """Popen may return before the new program's command line is readable (vfork)."""
    deadline = time.monotonic() + 10
    while not Path(f"/proc/{process.pid}/cmdline").read_bytes().startswith(program.encode() + b"\0"):
        assert time.monotonic() < deadline, f"{program} did not start"
        time.sleep(0.01)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "30"])
    try:
        _started(process, "sleep")
        yield process
    finally:
        process.kill()
        process.wait()


def test_down_never_signals_a_process_that_is_not_its_dockerd(
    own_engine_paths: Path, sleeper: subprocess.Popen[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    (own_engine_paths / "docker.pid").write_text(f"{sleeper.pid}\n")  # a stale pid file; the pid reused
    assert engine.stop(Progress(1)) == []
    assert sleeper.poll() is None, "sleep was signalled"
    assert not (own_engine_paths / "docker.pid").exists()
    warning = capsys.readouterr().err
    assert f"names pid {sleeper.pid}, which is not kindstack's dockerd (sleep 30)" in warning
    assert warning.count("\n") == 1


def test_down_stops_its_own_dockerd(own_engine_paths: Path) -> None:
    config = own_engine_paths / "daemon.json"
    config.write_text(json.dumps(engine.daemon_config(own_engine_paths / "labrunc")))
    # A stand-in with dockerd's command line: argv[0] "dockerd", the config naming the pid file.
    stand_in = subprocess.Popen(["dockerd", "-c", "import time; time.sleep(30)", "--config-file", str(config)], executable=sys.executable)
    try:
        _started(stand_in, "dockerd")
        (own_engine_paths / "docker.pid").write_text(f"{stand_in.pid}\n")
        assert engine.running()
        assert engine.stop(Progress(1)) == []
        assert not Path(f"/proc/{stand_in.pid}").exists(), "not stopped, or left a zombie"
    finally:
        if stand_in.poll() is None:  # 0 once `stop` has collected it: never a reused pid
            stand_in.kill()
        stand_in.wait()


def test_kinds_published_images_of_other_minors_are_pinned_by_digest(versions: Versions) -> None:
    minors = [".".join(image.rpartition(":v")[2].split(".")[:2]) for image in versions.published]
    assert versions.published
    assert len(set(minors)) == len(minors), "one published image per minor"
    assert all(re.fullmatch(r"kindest/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", image) for image in versions.published)
    pins = load_pins()
    offered = {".".join(v.removeprefix("v").split(".")[:2]) for v in pins.names("KUBERNETES_VERSIONS")}
    assert set(minors) <= offered, "a minor kind publishes is one a run across versions offers offline too"
    assert versions.published_image("v1.35.4") == next(i for i in versions.published if ":v1.35." in i)
    assert versions.published_image("1.350") is None


@pytest.mark.parametrize(
    ("release", "published", "expected"),
    [
        ("v1.35.4", ("kindest/node:v1.35.8@sha256:" + "a" * 64,), "kindest/node:v1.35.8@sha256:" + "a" * 64),
        ("v1.35.4", (), "localhost/kindstack/release-node:v1.35.4"),
    ],
    ids=["a published image of the minor", "none: kind builds it from the release"],
)
def test_online_another_minor_runs_kinds_published_image_else_kinds_build(
    release: str, published: tuple[str, ...], expected: str, fake_proc_sys: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pins = replace(load(pins_only=True), published=published)
    monkeypatch.setattr(cli, "load", lambda *a, **k: pins)
    monkeypatch.setattr(cli, "_engine", lambda *a: engine.Engine("unix:///run/user.sock", ours=False))
    monkeypatch.setattr(nodeimage, "build_kind", lambda *a: tmp_path / "kind")
    monkeypatch.setattr(nodeimage, "published_release_image", lambda e, k, r, p: f"localhost/kindstack/release-node:{r}")
    env = cli.up("auto", release)
    assert env[KIND_NODE_IMAGE_ENV] == expected
    assert KIND_NODE_IMAGE_ENV not in cli.up("auto", pins.kubernetes), "the pin's minor: versions.env's KIND_NODE_IMAGE"
