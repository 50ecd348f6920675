"""The S3 variant without AWS: the in-cluster server's objects, the choice of server, and the
driver install through a real `helm` process (a recording stand-in: EKS-free, cluster-free)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from fixtures import options
from labkit import gomod, helm, redact, s3bucket, s3driver, s3server, settings
from labkit.drivers import s3
from labkit.kube import Kube

RUN = "abc123"


def test_server_objects_carry_the_run_labels_and_no_key() -> None:
    keys = s3server.Keys.generate()
    docs = s3server.objects(s3server.namespace_for(RUN), RUN, settings.s3_server_image(), "us-east-1")
    assert [d["kind"] for d in docs] == ["Namespace", "Pod", "Service"]
    text = json.dumps(docs)
    assert keys.access_key_id not in text
    assert keys.secret_access_key not in text
    for doc in docs:
        assert doc["metadata"]["labels"][settings.LABEL_RUN] == RUN
    pod, service = docs[1], docs[2]
    container = pod["spec"]["containers"][0]
    assert container["image"] == f"versity/versitygw:{settings.versions()['VERSITYGW_VERSION']}"
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert {r["name"] for r in refs.values()} == {s3server.KEYS_SECRET}
    assert set(refs) == {"ROOT_ACCESS_KEY_ID", "ROOT_SECRET_ACCESS_KEY"}
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]


def test_generated_keys_are_masked_everywhere() -> None:
    keys = s3server.Keys.generate()
    secret = s3server.keys_secret("ns", RUN, keys)
    assert secret["stringData"] == {"access-key-id": keys.access_key_id, "secret-access-key": keys.secret_access_key}
    assert keys.secret_access_key not in redact.text(f"env: {keys.access_key_id} {keys.secret_access_key}")


def fake_kube(driver: bool, release: str | None = None) -> Kube:
    def read_csi_driver(name: str) -> Any:
        if not driver:
            raise ApiException(status=404)
        annotations = {"meta.helm.sh/release-name": release} if release else None
        return NS(metadata=NS(name=name, annotations=annotations))

    kube: Any = Kube.__new__(Kube)
    kube.storage = NS(read_csi_driver=read_csi_driver)
    return kube  # type: ignore[no-any-return]


def opts(**given: Any) -> options.LabOptions:
    values: dict[str, Any] = {
        "cluster": None, "kubeconfig": None, "context": None, "kind_name": "k", "kind_workers": 2, "kind_node_image": None,
        "kind_image_archive": [], "keep_cluster": False, "keep_namespaces": False, "run_id": RUN, "timeout_scale": 1.0,
        "s3_region": None, "s3_endpoint": None, "s3_bucket_prefix": "p", "lab_report_dir": Path("reports"), "require": "",
        "s3_server": "auto", "lab_page": [], "lab_module": [], "page_strict": False, "lab_source": None, "s3_driver_chart": None,
    }  # fmt: skip
    values.update(given)
    return options.parse(values.__getitem__)


@pytest.mark.parametrize(
    ("given", "credentials", "driver", "expected"),
    [
        ({}, False, False, "in-cluster"),
        ({}, False, True, "external"),  # the driver's keys belong to another server
        ({}, True, False, "external"),
        ({"s3_endpoint": "http://192.0.2.10:9000"}, False, False, "external"),
        ({"s3_server": "in-cluster"}, True, True, "in-cluster"),
        ({"s3_server": "external"}, False, False, "external"),
    ],
)
def test_auto_picks_the_in_cluster_server_only_without_endpoint_credentials_or_driver(
    monkeypatch: pytest.MonkeyPatch, given: dict[str, Any], credentials: bool, driver: bool, expected: str
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setattr(s3bucket, "has_credentials", lambda: credentials)
    o = opts(**given)
    assert s3.resolve_server(o.s3_server, o.s3_endpoint, fake_kube(driver)) == expected


def test_a_driver_left_by_a_killed_run_is_named_with_its_removal() -> None:
    why = s3driver.in_cluster_unmet(fake_kube(driver=True, release="s3-csi-oldrun1"), "thisrun")
    assert why is not None
    assert why.endswith(
        f"`kubectl delete ns,pv -l {settings.LABEL_RUN}=oldrun1 --wait && helm uninstall s3-csi-oldrun1 -n kube-system && "
        "kubectl delete secret s3-csi-keys-oldrun1 -n kube-system`"
    )


def test_the_driver_this_run_installed_serves_its_later_tests() -> None:
    assert s3driver.in_cluster_unmet(fake_kube(driver=True, release="s3-csi-thisrun"), "thisrun") is None


def test_in_cluster_refuses_a_driver_it_did_not_install() -> None:
    why = s3driver.in_cluster_unmet(fake_kube(driver=True), "thisrun")
    assert why is not None
    assert "use --s3-server external" in why


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


class Recorder:
    """A kube whose secrets are a dict, and a `helm` that records its arguments."""

    def __init__(self, tmp_path: Path, exit_code: int = 0, error: str = "") -> None:
        self.secrets: dict[str, dict[str, Any]] = {}
        self.calls = tmp_path / "helm-calls"
        self.helm = executable(
            tmp_path / "helm",
            f'#!/bin/sh\nprintf "%s\\n" "$*" >> {self.calls}\necho "{error}" >&2\nexit {exit_code}\n',
        )
        kube: Any = Kube.__new__(Kube)
        kube.core = NS(
            create_namespaced_secret=lambda namespace, body: self.secrets.__setitem__(body["metadata"]["name"], body),
            delete_namespaced_secret=lambda name, namespace: self.secrets.pop(name),
            list_namespaced_pod=lambda namespace: NS(items=[]),
            read_namespace=self._missing,
        )
        kube.storage = NS(read_csi_driver=self._missing)
        self.install = s3driver.Installation(kube, Path("/kc"), "ctx", RUN, settings.Timeouts(), helm=str(self.helm))

    @staticmethod
    def _missing(name: str) -> Any:
        raise ApiException(status=404)

    def lines(self) -> list[str]:
        return self.calls.read_text().splitlines()


@pytest.fixture
def module_chart(monkeypatch: pytest.MonkeyPatch) -> helm.DriverChart:
    """The default chart, the Go module's, found at /chart."""
    monkeypatch.setattr(helm, "driver_chart", lambda: Path("/chart"))
    return s3.driver_chart(opts().s3_driver_chart)


def test_install_passes_the_run_keys_by_secret_name_only(tmp_path: Path, module_chart: helm.DriverChart) -> None:
    rec = Recorder(tmp_path)
    keys = s3server.Keys.generate()
    rec.install.install(keys, module_chart)
    secret = rec.secrets[f"s3-csi-keys-{RUN}"]
    assert secret["stringData"] == {"key_id": keys.access_key_id, "access_key": keys.secret_access_key}
    assert secret["metadata"]["labels"][settings.LABEL_RUN] == RUN
    [line] = rec.lines()
    assert line.startswith(f"install s3-csi-{RUN} /chart --set awsAccessSecret.name=s3-csi-keys-{RUN} ")
    assert " ".join(helm.DRIVER_VALUES) in line
    assert f"--labels {settings.LABEL_RUN}={RUN}," in line
    assert line.endswith("--namespace kube-system --kubeconfig /kc --kube-context ctx")
    assert keys.access_key_id not in line
    assert keys.secret_access_key not in line


def test_offline_the_go_modules_chart_installs_with_the_v1_values(tmp_path: Path, module_chart: helm.DriverChart) -> None:
    rec = Recorder(tmp_path)
    rec.install.install(s3server.Keys.generate(), module_chart)
    [line] = rec.lines()
    assert line.startswith(
        f"install s3-csi-{RUN} /chart --set awsAccessSecret.name=s3-csi-keys-{RUN} "
        "--set experimental.podMounter=true --set supportLegacySystemDMounts=false --labels "
    )
    pin = settings.versions()["MOUNTPOINT_S3_CSI_DRIVER_VERSION"]
    assert module_chart.describe() == f"chart aws-mountpoint-s3-csi-driver {pin.lstrip('v')} from Go module {helm.DRIVER_MODULE}@{pin}"
    # s3stack renders the same chart with the same values to learn its image names.
    assert module_chart.line.values == helm.DRIVER_VALUES


def test_s3_driver_chart_installs_that_published_v2_chart_without_the_v1_switch(tmp_path: Path) -> None:
    versions = settings.versions()
    pin, repo = versions["MOUNTPOINT_S3_CSI_DRIVER_CHART_V2"], versions["MOUNTPOINT_S3_CSI_CHART_REPO"]
    assert pin.startswith("2.")
    assert repo == "https://awslabs.github.io/mountpoint-s3-csi-driver"
    rec = Recorder(tmp_path)
    rec.install.install(s3server.Keys.generate(), s3.driver_chart(opts(s3_driver_chart=pin).s3_driver_chart))
    [line] = rec.lines()
    assert line.startswith(
        f"install s3-csi-{RUN} aws-mountpoint-s3-csi-driver --repo {repo} --version {pin} "
        f"--set awsAccessSecret.name=s3-csi-keys-{RUN} --set supportLegacySystemDMounts=false --labels "
    )
    assert "podMounter" not in line  # v2 has only the pod mounter, and no such value
    assert line.endswith("--namespace kube-system --kubeconfig /kc --kube-context ctx")


@pytest.mark.parametrize(
    ("version", "fix"),
    [
        ("v2.7.0", r"^'v2\.7\.0' is not a chart version: use a published one like \d"),
        ("2.7", "is not a chart version"),
        ("0.9.0", r"values for chart lines 1\.x, 2\.x only \(labkit/helm\.py LINES\)"),
    ],
)
def test_a_chart_version_without_values_is_refused_naming_the_fix(version: str, fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        helm.published_chart(version)


def test_the_s3_server_image_pulled_by_its_pinned_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = settings.versions()["VERSITYGW_IMAGE_DIGEST"]
    assert settings.s3_server_image_by_digest() == f"versity/versitygw@{digest}"
    assert settings.s3_server_image() == f"versity/versitygw:{settings.versions()['VERSITYGW_VERSION']}"  # the pod's, offline too
    pins = dict(settings.versions())
    monkeypatch.setattr(settings, "versions", lambda: pins)
    pins["VERSITYGW_IMAGE_DIGEST"] = ""
    assert settings.s3_server_image_by_digest() is None
    pins["VERSITYGW_IMAGE_DIGEST"] = "sha256:abc"
    with pytest.raises(ValueError, match=r"VERSITYGW_IMAGE_DIGEST=sha256:abc is not sha256:<64 hex digits>: fix it or leave it empty$"):
        settings.s3_server_image_by_digest()


def test_uninstall_removes_the_release_and_its_keys(tmp_path: Path, module_chart: helm.DriverChart) -> None:
    rec = Recorder(tmp_path)
    rec.install.install(s3server.Keys.generate(), module_chart)
    rec.install.uninstall()
    assert rec.secrets == {}
    assert rec.lines()[-1].startswith(f"uninstall s3-csi-{RUN} --wait --timeout ")


def test_a_failed_chart_install_is_one_line_with_helms_error(tmp_path: Path, module_chart: helm.DriverChart) -> None:
    rec = Recorder(tmp_path, exit_code=1, error="Error: INSTALLATION FAILED: CSIDriver s3.csi.aws.com exists")
    with pytest.raises(s3driver.DriverError, match=rf"^`helm install s3-csi-{RUN}` failed: Error: INSTALLATION FAILED: CSIDriver"):
        rec.install.install(s3server.Keys.generate(), module_chart)


def test_the_chart_must_be_the_pinned_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chart = tmp_path / helm.CHART_IN_MODULE
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: aws-mountpoint-s3-csi-driver\nversion: 0.0.1\n")
    monkeypatch.setattr(gomod, "module_dir", lambda module, version: tmp_path)
    with pytest.raises(helm.HelmUnavailable, match=r"is chart version 0\.0\.1, not"):
        helm.driver_chart()
    pin = settings.versions()["MOUNTPOINT_S3_CSI_DRIVER_VERSION"].lstrip("v")
    (chart / "Chart.yaml").write_text(f"version: {pin}\n")
    assert helm.driver_chart() == chart


def test_no_helm_and_no_go_names_both_fixes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(gomod, "go_binary", lambda: None)
    assert helm.unavailable_reason() == f"no `helm` on PATH and no Go to build helm {helm.version()} from its module: install helm or Go"
    with pytest.raises(helm.HelmUnavailable, match="`go` is missing"):
        helm.ensure(lambda note: None)


def test_a_failed_go_build_names_the_module_and_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "src"
    source.mkdir()
    go = executable(
        tmp_path / "go",
        f'#!/bin/sh\nif [ "$1" = mod ]; then echo \'{{"Dir": "{source}"}}\'; exit 0; fi\necho "cmd/helm: undefined: x"; exit 1\n',
    )
    monkeypatch.setattr(gomod, "go_binary", lambda: str(go))
    log = tmp_path / "build.log"
    with pytest.raises(gomod.GoError, match=rf"building example.test/m@v1 ./cmd/helm failed \(exit 1\): .*undefined: x \(log {log}\)"):
        gomod.build("example.test/m", "v1", "./cmd/helm", tmp_path / "out" / "helm", log)
    assert not (tmp_path / "out" / "helm").exists()
    assert os.access(go, os.X_OK)


def test_the_helm_it_builds_reports_the_pinned_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built: list[tuple[Any, ...]] = []

    def build(*args: Any) -> Path:
        built.append(args)
        return Path(args[3])

    monkeypatch.setattr(gomod, "build", build)
    assert helm.ensure(lambda note: None) == str(helm.cached())
    [(module, version, package, _, _, ldflags)] = built
    assert (module, version, package) == ("helm.sh/helm/v3", settings.versions()["HELM_VERSION"], "./cmd/helm")
    assert ldflags == f"-s -w -X helm.sh/helm/v3/internal/version.version={settings.versions()['HELM_VERSION']}"
