"""The local cluster tool's pure parts: pins, configs that encode this machine's facts,
image archives, iptables clean-up scope, and the run wrapper's always-down promise."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from labkit import lab
from localcluster import cli, components, images, network, runtime, versions
from localcluster import cluster as lifecycle
from localcluster.layout import ADMIN_KUBECONFIG, GO_MOD, write_if_changed
from localcluster.ui import ClusterError

PINS = versions.load()


def test_pins_come_from_versions_env() -> None:
    from labkit import settings

    assert settings.kubernetes_version() == PINS.kubernetes
    assert PINS.staging == "v0." + PINS.kubernetes.removeprefix("v").split(".", 1)[1]


@pytest.mark.parametrize("line", ["kubernetes=v1", "KUBERNETES_VERSION", "1X=2"])
def test_bad_pin_line_is_named(line: str) -> None:
    with pytest.raises(ClusterError, match="is not KEY=value"):
        versions.parse(line)


def test_go_mod_must_match_the_pins(tmp_path: Path) -> None:
    versions.check_go_mod(PINS)  # the committed wrapper module agrees
    stale = tmp_path / "go.mod"
    stale.write_text(GO_MOD.read_text().replace(f"k8s.io/kubernetes {PINS.kubernetes}", "k8s.io/kubernetes v1.0.0"))
    with pytest.raises(ClusterError, match=f"k8s.io/kubernetes is not {PINS.kubernetes}"):
        versions.check_go_mod(PINS, stale)


def test_kubelet_config_fits_this_machine() -> None:
    config = components.kubelet_config()
    assert config["cgroupDriver"] == "cgroupfs"  # no systemd
    assert config["failCgroupV1"] is False  # cgroups v1 host, Kubernetes >= 1.35
    assert config["imageGCHighThresholdPercent"] == 100  # nothing can be pulled again


def test_containerd_config_fits_this_machine() -> None:
    text = runtime.containerd_config(PINS.pause_image)
    assert "restrict_oom_score_adj = true" in text  # no CAP_SYS_RESOURCE
    assert "SystemdCgroup = false" in text
    assert f'sandbox_image = "{PINS.pause_image}"' in text


def test_assets_image_is_the_manifests() -> None:
    assert images.assets_image_name() == lab.ASSETS.image


def test_docker_archive_is_loadable_shape() -> None:
    layer = images.Layer()
    layer.file("hello.txt", b"hi")
    blob = layer.finish()
    archive = images.docker_archive("example.test/x:1", blob, {"Cmd": ["/hello"]})
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        (entry,) = manifest
        assert entry["RepoTags"] == ["example.test/x:1"]
        config = json.load(tar.extractfile(entry["Config"]))  # type: ignore[arg-type]
        stored = tar.extractfile(entry["Layers"][0]).read()  # type: ignore[union-attr]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(stored).hexdigest()]
    assert config["config"] == {"Cmd": ["/hello"]}


def test_iptables_cleanup_touches_only_its_own_chains() -> None:
    dump = "\n".join(
        [
            "*nat",
            ":PREROUTING ACCEPT [0:0]",
            ":KUBE-SERVICES - [0:0]",
            ":CNI-abc123 - [0:0]",
            ":USER-CHAIN - [0:0]",
            "-A PREROUTING -j KUBE-SERVICES",
            "-A PREROUTING -j USER-CHAIN",
            "-A CNI-abc123 -j ACCEPT",
            "-A USER-CHAIN -p tcp -j ACCEPT",
            "COMMIT",
        ]
    )
    kept, changed = network._clean_table_dump(dump)
    assert changed
    assert "KUBE-" not in kept
    assert "CNI-" not in kept
    assert ":USER-CHAIN - [0:0]" in kept
    assert "-A PREROUTING -j USER-CHAIN" in kept


def test_unchanged_config_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "kube-proxy.yaml"
    write_if_changed(path, "a: 1\n")
    os.utime(path, (1, 1))
    write_if_changed(path, "a: 1\n")
    assert path.stat().st_mtime == 1
    write_if_changed(path, "a: 2\n")
    assert path.read_text() == "a: 2\n"


@pytest.mark.parametrize("command_exit", [0, 3])
def test_run_always_brings_the_cluster_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command_exit: int) -> None:
    calls: list[str] = []
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "kubelet.log").write_text("kubelet log")
    monkeypatch.setattr(lifecycle, "up", lambda v: calls.append("up"))
    monkeypatch.setattr(lifecycle, "down", lambda: calls.append("down"))
    monkeypatch.setattr(cli, "LOG_DIR", logs)
    monkeypatch.setattr("shutil.which", lambda name: None)
    seen = tmp_path / "seen"
    code = cli.run_command(PINS, ["--", "sh", "-c", f'echo "$KUBECONFIG" > {seen}; exit {command_exit}'], tmp_path / "saved", keep=False)
    assert code == command_exit
    assert calls == ["up", "down"]
    assert seen.read_text().strip() == str(ADMIN_KUBECONFIG)
    assert (tmp_path / "saved" / "kubelet.log").read_text() == "kubelet log"


def test_run_brings_it_down_when_up_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[str] = []

    def broken_up(v: object) -> None:
        raise ClusterError("etcd exited")

    monkeypatch.setattr(lifecycle, "up", broken_up)
    monkeypatch.setattr(lifecycle, "down", lambda: calls.append("down"))
    monkeypatch.setattr(cli, "LOG_DIR", tmp_path)
    with pytest.raises(ClusterError, match="etcd exited"):
        cli.run_command(PINS, ["--", "true"], None, keep=False)
    assert calls == ["down"]


def test_run_needs_a_command() -> None:
    with pytest.raises(ClusterError, match="run needs a command"):
        cli.run_command(PINS, ["--"], None, keep=False)


def test_assets_layer_ships_exactly_the_lab_images() -> None:
    # Stand-in tools: the layer is pure data, so this needs no Debian package on the host.
    tools = images.StaticTools(b"busybox", b"bash", ("bin/busybox", "bin/ls", "usr/bin/touch", "linuxrc"))
    blob = images.assets_layer(b"#!server", tools)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        shipped = sorted(Path(n).name for n in tar.getnames() if n.startswith("usr/share/nginx/html/assets/") and n.endswith(".jpg"))
        health = tar.getmember("usr/share/nginx/html/health.html")
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
        bash = tar.extractfile("bin/bash").read()  # type: ignore[union-attr]
    assert shipped == sorted(lab.PRODUCT_IMAGES)
    assert health.uid == images.APP_UID
    assert links == {"bin/ls": "/bin/busybox", "usr/bin/touch": "/bin/busybox"}
    assert bash == b"bash"


def test_missing_static_tools_name_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(images, "BUSYBOX", tmp_path / "busybox")
    with pytest.raises(ClusterError, match="apt-get install busybox-static"):
        images.StaticTools.from_host()
