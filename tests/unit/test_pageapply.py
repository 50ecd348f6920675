"""A page's own `kubectl apply` runs for real, with the run's labels on what it makes and the
run's S3 endpoint on its Mountpoint volume; the replay's kubectl hands it to the stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labkit import mountpoint, pageapply, scope, settings, standins, tools
from labkit.drivers.s3 import DRIVER as S3
from labkit.page import Page, parse

WORKSHOP = Path(__file__).resolve().parents[1] / "data" / "workshop" / "ui-layout" / "manifests"
MODULE = WORKSHOP / "modules" / "fundamentals" / "storage" / "s3" / "deployment"
LABELS = {settings.LABEL_RUN: "r1", settings.LABEL_VARIANT: "page"}
SPEC = pageapply.Spec(
    labels=LABELS,
    csi_driver=mountpoint.DRIVER,
    components=list(S3.optional_components.values()),
    values={"S3_ENDPOINT": "http://s3.lab-s3.svc:9000"},
)
PAGE_APPLY = "kubectl kustomize ~/environment/eks-workshop/modules/fundamentals/storage/s3/deployment \\\n  | envsubst | kubectl apply -f-"


def volume(driver: str = mountpoint.DRIVER, options: tuple[str, ...] = ("allow-other",)) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "s3-pv"},
        "spec": {"mountOptions": list(options), "csi": {"driver": driver, "volumeHandle": "h"}},
    }


@pytest.mark.parametrize(
    ("args", "verb"),
    [
        (["apply", "-f-"], "apply"),
        (["-n", "ui", "create", "-f", "x.yaml"], "create"),
        (["--namespace=ui", "replace", "-f", "x"], "replace"),
        (["get", "pods", "apply"], "get"),
        (["exec", "pod", "--", "kubectl", "apply"], "exec"),
        (["--", "apply"], None),
    ],
)
def test_the_verb_is_the_first_word_that_is_not_a_flag(args: list[str], verb: str | None) -> None:
    assert pageapply.verb(args) == verb


def test_every_way_of_naming_a_file_is_read() -> None:
    found, rest, recursive = pageapply.sources(["apply", "-f-", "--filename=a.yaml", "-f", "b", "-k", "dir", "-R", "--prune"])
    assert found == [("-f", "-"), ("-f", "a.yaml"), ("-f", "b"), ("-k", "dir")]
    assert rest == ["apply", "-R", "--prune"]
    assert recursive


def test_a_mountpoint_volume_gets_the_runs_endpoint_and_every_object_its_labels() -> None:
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c", "labels": {"app": "ui"}}}
    other = volume(driver="ebs.csi.aws.com")
    dressed = pageapply.dress([volume(), claim, other], SPEC)
    assert dressed[0]["spec"]["mountOptions"] == ["allow-other", "endpoint-url=http://s3.lab-s3.svc:9000", "force-path-style"]
    assert dressed[1]["metadata"]["labels"] == {"app": "ui", **LABELS}, "the page's own labels are kept"
    assert dressed[2]["spec"] == other["spec"], "a volume of another driver is the page's as written"
    assert all(doc["metadata"]["labels"].items() >= LABELS.items() for doc in dressed), "the run's clean-up finds each"


def test_on_aws_itself_the_volume_is_the_pages_as_written() -> None:
    dressed = pageapply.dress([volume()], pageapply.Spec(labels=LABELS, csi_driver=mountpoint.DRIVER))
    assert dressed[0]["spec"] == volume()["spec"]


def test_a_volume_the_component_cannot_patch_is_one_line() -> None:
    broken = volume()
    del broken["spec"]["mountOptions"]  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="kustomize of 1 object"):
        pageapply.dress([broken], SPEC)


def test_a_kustomization_and_a_folder_are_read_as_kubectl_reads_them(tmp_path: Path) -> None:
    kubectl = [tools.find("kubectl")]
    docs = pageapply.read([("-k", str(MODULE))], False, kubectl, 60, "")
    assert docs is not None
    assert {f"{d['kind']}/{d['metadata']['name']}" for d in docs} >= {"PersistentVolume/s3-pv", "Deployment/ui"}
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({"kind": "List", "items": [volume()]}))
    (tmp_path / "sub" / "b.yml").write_text(yaml.safe_dump(volume()))
    (tmp_path / "notes.txt").write_text("not a manifest")
    assert pageapply.read([("-f", str(tmp_path))], False, kubectl, 60, "") == [volume()]
    assert pageapply.read([("-f", str(tmp_path))], True, kubectl, 60, "") == [volume(), volume()]


@pytest.mark.parametrize("source", ["https://example.com/x.yaml", "missing.yaml", "-"])
def test_what_the_stand_in_cannot_read_goes_to_kubectl_untouched(source: str) -> None:
    assert pageapply.read([("-f", source)], False, ["kubectl"], 60, ": [unbalanced") is None


def fake_kubectl(tmp_path: Path) -> Path:
    """A kubectl that records its arguments and what it read."""
    fake = tmp_path / "real" / "kubectl"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat > {tmp_path}/stdin\n')
    fake.chmod(0o755)
    return fake


def test_the_replays_kubectl_sends_an_apply_through_the_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "find", lambda name: str(fake_kubectl(tmp_path)))
    spec = SPEC.write(tmp_path / "apply.json")
    shim = scope.shim(tmp_path / "bin", tmp_path / "replay.kubeconfig", spec) / "kubectl"
    env = {**os.environ, "PYTHONPATH": ""}
    out = subprocess.run([str(shim), "apply", "-f-", "--server-side"], input=yaml.safe_dump(volume()), env=env, text=True, check=False)
    assert out.returncode == 0
    assert (tmp_path / "args").read_text().split() == [
        "--kubeconfig",
        str(tmp_path / "replay.kubeconfig"),
        "apply",
        "--server-side",
        "-f",
        "-",
    ]
    (applied,) = yaml.safe_load_all((tmp_path / "stdin").read_text())
    assert "force-path-style" in applied["spec"]["mountOptions"]
    assert applied["metadata"]["labels"] == LABELS
    subprocess.run([str(shim), "get", "pv", "-f", "x"], env=env, text=True, check=False, stdin=subprocess.DEVNULL)
    assert (tmp_path / "args").read_text().split()[2:] == ["get", "pv", "-f", "x"], "any other verb is kubectl's as written"


def test_without_a_spec_the_replays_kubectl_is_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "find", lambda name: str(fake_kubectl(tmp_path)))
    shim = scope.shim(tmp_path / "bin", tmp_path / "replay.kubeconfig") / "kubectl"
    assert sys.executable not in shim.read_text()


def page(tmp_path: Path, command: str) -> Page:
    path = tmp_path / f"page-{len(list(tmp_path.glob('page-*')))}.md"
    path.write_text(f"---\ntitle: A page\n---\n\n```bash\n$ {command}\n```\n")
    return parse(path)


def test_pages_that_apply_from_the_environment_are_found_with_their_volumes(tmp_path: Path) -> None:
    own = page(tmp_path, PAGE_APPLY)
    other = page(tmp_path, "kubectl apply -k ~/somewhere/else")
    assert standins.applies_own([other, own])
    assert not standins.applies_own([other])
    assert standins.applied_directories([own], WORKSHOP) == [MODULE.resolve()]
    escaping = page(tmp_path, "kubectl apply -k ~/environment/eks-workshop/../../../ui-layout/manifests/base-application/ui")
    assert standins.applied_directories([escaping], WORKSHOP) == [], "nothing outside the lab source's manifests"
