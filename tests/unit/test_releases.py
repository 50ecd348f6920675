"""Another Kubernetes release for the local cluster: which patch a minor means, and the wrapper
module generated from that release's own go.mod (its staging modules, its etcd); and the kubectl
of the cluster's release, which the suite then uses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit import tools
from localcluster import cli, cluster, releases
from stackbase import gobuild
from stackbase.ui import ToolError
from stackbase.versions import Pins

PINS = Pins({"KUBERNETES_VERSION": "v1.36.3", "KUBERNETES_VERSIONS": "v1.34.4,v1.35.4"}, Path("versions.env"))
RELEASE_GO_MOD = """module k8s.io/kubernetes

go 1.25.0

require (
	github.com/spf13/cobra v1.10.0
	go.etcd.io/etcd/server/v3 v3.6.5 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/kubectl => ./staging/src/k8s.io/kubectl
)
"""


@pytest.mark.parametrize(("asked", "release"), [("1.35", "v1.35.4"), ("v1.34", "v1.34.4"), ("1.36", "v1.36.3"), ("v1.33.9", "v1.33.9")])
def test_a_minor_is_the_patch_the_pins_list(asked: str, release: str) -> None:
    assert releases.resolve(asked, PINS) == release


def test_a_minor_without_a_pinned_patch_names_the_ones_there_are() -> None:
    with pytest.raises(ToolError, match=r"Kubernetes 1.31 has no pinned patch: use one of 1.34, 1.35, 1.36"):
        releases.resolve("1.31", PINS)
    with pytest.raises(ToolError, match=r"use a minor like 1\.35"):
        releases.resolve("latest", PINS)


def test_the_generated_module_takes_the_releases_staging_modules_and_its_etcd() -> None:
    text = releases.go_mod_text("v1.35.4", RELEASE_GO_MOD)
    assert "\tk8s.io/kubernetes v1.35.4\n" in text
    assert "\tgo.etcd.io/etcd/server/v3 v3.6.5\n" in text, "the etcd the release requires"
    assert "\tk8s.io/api => k8s.io/api v0.35.4\n\tk8s.io/kubectl => k8s.io/kubectl v0.35.4\n" in text
    assert "\tk8s.io/client-go v0.35.4\n" in text


def test_a_release_go_mod_without_staging_modules_is_refused() -> None:
    with pytest.raises(ToolError, match="replaces no staging module"):
        releases.go_mod_text("v1.35.4", "module k8s.io/kubernetes\n")


def test_the_clusters_own_kubectl_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubectl = tmp_path / "kubectl"
    kubectl.write_text("")
    monkeypatch.setenv(tools.KUBECTL_ENV, str(kubectl))
    assert tools.find("kubectl") == str(kubectl)
    monkeypatch.setenv(tools.KUBECTL_ENV, str(tmp_path / "gone"))
    with pytest.raises(tools.MissingTool, match="is not a file"):
        tools.find("kubectl")


def fake_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moves_to: str | None) -> list[list[str]]:
    """`go mod download` answers with RELEASE_GO_MOD; `go list -mod=mod` leaves the module as is,
    or moves it to another release, as Go does for a package the asked release lacks."""
    release_mod = tmp_path / "release.mod"
    release_mod.write_text(RELEASE_GO_MOD)
    calls: list[list[str]] = []

    def run(argv: list[str], cwd: Path, log: Path, what: str) -> str:
        calls.append(argv[1:3])
        if argv[1:3] == ["mod", "download"]:
            return json.dumps({"GoMod": str(release_mod)})
        if moves_to:
            go_mod = cwd / "go.mod"
            go_mod.write_text(go_mod.read_text().replace("k8s.io/kubernetes v1.35.4", f"k8s.io/kubernetes {moves_to}"))
        return ""

    monkeypatch.setattr(releases, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(releases, "go_run", run)
    monkeypatch.setattr(releases, "go_binary", lambda: "go")
    return calls


def test_a_release_module_is_made_once_and_builds_the_etcd_it_requires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_go(tmp_path, monkeypatch, moves_to=None)
    source, etcd = releases.module_for("v1.35.4")
    assert (source, etcd) == (tmp_path / "cache" / "gosrc-v1.35.4", "v3.6.5")
    assert sorted(p.name for p in (source / "cmd").iterdir()) == ["labetcd", "labkube"]
    assert releases.module_for("v1.35.4") == (source, etcd)
    assert calls == [["mod", "download"], ["list", "-mod=mod"]], "the second ask reads the cache"


def test_a_release_the_commands_cannot_build_with_fails_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_go(tmp_path, monkeypatch, moves_to="v1.37.2")
    with pytest.raises(ToolError, match=r"Kubernetes v1\.35\.4 lacks packages the wrapper's commands .* import \(Go would take v1\.37\.2"):
        releases.module_for("v1.35.4")
    assert not (tmp_path / "cache" / "gosrc-v1.35.4" / ".ready").exists()


def test_down_and_the_commands_without_a_release_never_build_one(monkeypatch: pytest.MonkeyPatch) -> None:
    downs: list[bool] = []
    monkeypatch.setattr(cluster, "down", lambda: downs.append(True))
    monkeypatch.setenv(tools.KUBERNETES_RELEASE_ENV, "")
    assert cli.run(cli.parser().parse_args(["down"])) == 0
    assert downs == [True]


def test_a_command_module_builds_one_command_against_another_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "gosrc"
    (source / "cmd" / "labcoredns").mkdir(parents=True)
    (source / "cmd" / "labcoredns" / "main.go").write_text("package main\n")
    (source / "go.mod").write_text("module kindstack\n\ngo 1.26.0\n\nrequire github.com/coredns/coredns v1.14.2\n")
    moves_to: list[str] = []
    calls: list[Path] = []

    def go_run(argv: list[str], cwd: Path, log: Path, what: str) -> str:
        calls.append(cwd)
        if moves_to:
            go_mod = cwd / "go.mod"
            go_mod.write_text(go_mod.read_text().replace("v1.13.1", moves_to[0]))
        return ""

    monkeypatch.setattr(gobuild, "go_run", go_run)
    monkeypatch.setattr(gobuild, "go_binary", lambda: "go")
    made = gobuild.command_module(tmp_path / "m", source, "labcoredns", "github.com/coredns/coredns", "v1.13.1")
    assert gobuild.required((made / "go.mod").read_text(), "github.com/coredns/coredns") == "v1.13.1"
    assert "\ngo 1.26.0\n" in (made / "go.mod").read_text()
    assert (made / "cmd" / "labcoredns" / "main.go").is_file()
    assert gobuild.command_module(tmp_path / "m", source, "labcoredns", "github.com/coredns/coredns", "v1.13.1") == made
    assert calls == [made], "made once"
    moves_to.append("v1.14.0")
    with pytest.raises(ToolError, match=r"labcoredns cannot build with github.com/coredns/coredns v1.13.1 \(Go would take v1.14.0"):
        gobuild.command_module(tmp_path / "n", source, "labcoredns", "github.com/coredns/coredns", "v1.13.1")
