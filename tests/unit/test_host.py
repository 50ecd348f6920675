"""The local cluster touches only what it made: `up` refuses another Kubernetes' state in one
line, records what it changes, and `down` restores exactly that (on stand-in host paths)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from localcluster import host, network, versions
from localcluster.layout import CGROUP_PARENT
from stackbase import sysctl
from stackbase.ui import ToolError


@pytest.fixture
def fake_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(host, "RECORD", tmp_path / "state" / "host.json")
    monkeypatch.setattr(host, "STATE_DIR", tmp_path / "state")
    monkeypatch.setattr(host, "KUBELET_ROOT", tmp_path / "var-lib-kubelet")
    monkeypatch.setattr(host, "NETNS_DIR", tmp_path / "netns")
    monkeypatch.setattr(sysctl, "PROC_SYS", tmp_path / "sys")
    monkeypatch.setattr(host, "kube_chain_lines", list)
    monkeypatch.setattr(host, "other_kubelets", lambda own: [])
    monkeypatch.setattr(host, "root_is_shared", lambda: True)
    for key in (*host.SYSCTLS, *sysctl.KUBELET_TUNABLES):
        (tmp_path / "sys" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "sys" / key).write_text("0\n")
    (tmp_path / "netns").mkdir()
    (tmp_path / "netns" / "cni-theirs").touch()
    return tmp_path


def test_up_refuses_another_kubernetes_in_one_line(fake_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (fake_host / "var-lib-kubelet").mkdir()
    monkeypatch.setattr(host, "kube_chain_lines", lambda: [":KUBE-SERVICES - [0:0]"])
    monkeypatch.setattr(host, "other_kubelets", lambda own: [4242])
    with pytest.raises(ToolError) as refused:
        host.begin(None)
    text = str(refused.value)
    assert "\n" not in text
    for shown in ("pid 4242", "var-lib-kubelet exists", "1 KUBE-/CNI- iptables lines", "stop that cluster"):
        assert shown in text
    assert not host.RECORD.exists()


def test_the_record_is_taken_once_and_restored(fake_host: Path) -> None:
    record = host.begin(None)
    assert record.sysctls == dict.fromkeys([*host.SYSCTLS, *sysctl.KUBELET_TUNABLES], "0")
    assert record.made_kubelet_root
    assert record.made_chains
    for key in host.SYSCTLS:  # what `up` then sets
        (fake_host / "sys" / key).write_text("1")
    (fake_host / "var-lib-kubelet").mkdir()  # the cluster's own now: a second `up` is not refused
    assert host.begin(None) == record
    assert host.restore(record) == []
    assert all((fake_host / "sys" / key).read_text() == "0" for key in host.SYSCTLS)
    host.finish()
    assert host.load() is None


def test_the_kubelets_kernel_tunables_are_recorded_and_put_back(fake_host: Path) -> None:
    """The kubelet (protectKernelDefaults: false) sets kernel.panic=10 and more; `down` must
    leave the host with the values it had before `up`."""
    record = host.begin(None)  # `up`'s first step, before the kubelet starts
    for key, value in sysctl.KUBELET_TUNABLES.items():  # what the kubelet then writes
        (fake_host / "sys" / key).write_text(value)
    assert host.load() == record  # a `down` from another process reads the same record
    assert host.restore(record) == []
    assert {key: (fake_host / "sys" / key).read_text().strip() for key in sysctl.KUBELET_TUNABLES} == dict.fromkeys(
        sysctl.KUBELET_TUNABLES, "0"
    )


def test_a_value_that_cannot_be_put_back_is_named(fake_host: Path) -> None:
    record = host.begin(None)
    (fake_host / "sys" / "kernel" / "panic").unlink()
    (fake_host / "sys" / "kernel" / "panic").mkdir()  # unwritable, as a read-only /proc/sys
    (fake_host / "sys" / "vm" / "overcommit_memory").write_text("1")
    failed = host.restore(record)
    assert len(failed) == 1, failed
    assert failed[0].startswith("sysctl kernel.panic=0 ("), failed
    assert (fake_host / "sys" / "vm" / "overcommit_memory").read_text() == "0"  # the rest still restored


def _go_module_dir(module: str) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not on PATH: the kubelet's source is read from its module cache")
    cache = subprocess.run([go, "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    path = Path(cache) / module
    if not path.is_dir():
        pytest.skip(f"{module} is not in the Go module cache (`localcluster build` downloads it)")
    return path


def test_the_tunables_are_the_ones_the_pinned_kubelet_sets() -> None:
    """A Kubernetes bump that adds a tunable to setupKernelTunables must add it here."""
    pins = versions.load()
    kubelet = _go_module_dir(f"k8s.io/kubernetes@{pins.kubernetes}") / "pkg/kubelet/cm/container_manager_linux.go"
    helpers = _go_module_dir(f"k8s.io/component-helpers@{pins.staging}") / "node/util/sysctl/sysctl.go"
    block = re.search(r"desiredState := map\[string\]int\{(.*?)\n\t\}", kubelet.read_text(), re.S)
    assert block, f"no desiredState map in {kubelet}: read setupKernelTunables and update stackbase.sysctl.KUBELET_TUNABLES"
    names = dict(re.findall(r'^\s*(\w+)\s*=\s*"([^"]+)"', helpers.read_text(), re.M))
    assert {names[name] for name in re.findall(r"utilsysctl\.(\w+):", block.group(1))} == set(sysctl.KUBELET_TUNABLES)


def test_only_the_clusters_own_network_namespaces_are_removed(fake_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = host.begin(None)
    (fake_host / "netns" / "cni-ours").touch()
    monkeypatch.setattr(network, "NETNS_DIRS", (fake_host / "netns",))
    network.remove_netns(record)
    assert sorted(p.name for p in (fake_host / "netns").iterdir()) == ["cni-theirs"]
    network.remove_netns(None)  # no record: nothing is the cluster's
    assert (fake_host / "netns" / "cni-theirs").exists()


def test_chains_are_cleaned_only_when_the_cluster_made_them(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(network, "_run", lambda *command, check=False: ran.append(command[0]))
    network.clean_iptables(None)
    network.clean_iptables(host.Record(made_chains=False))
    assert ran == []


def test_cgroup_parent_is_made_and_removed_in_every_hierarchy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "CGROUP_MOUNT", tmp_path)
    for name in ("cpuset", "memory"):
        (tmp_path / name).mkdir()
    (tmp_path / "cpuset" / "cpuset.cpus").write_text("0-1\n")
    (tmp_path / "cpuset" / "kubepods").mkdir()  # another kubelet's: never touched
    host.make_cgroup_parent()
    (tmp_path / "cpuset" / CGROUP_PARENT / "cpuset.cpus").write_text("")
    host.make_cgroup_parent()
    assert (tmp_path / "cpuset" / CGROUP_PARENT / "cpuset.cpus").read_text() == "0-1\n"
    (tmp_path / "memory" / CGROUP_PARENT / "kubepods" / "besteffort").mkdir(parents=True)
    (tmp_path / "cpuset" / CGROUP_PARENT / "cpuset.cpus").unlink()  # real cgroup files vanish with the dir
    assert host.remove_cgroup_parent() == []
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cpuset", "cpuset.cpus", "kubepods", "memory"]
