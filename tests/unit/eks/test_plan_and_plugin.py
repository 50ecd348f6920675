"""Plan mode makes no AWS call; `--cluster eks` options and wiring, run through pytest itself."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest

from fixtures import options
from labkit import s3bucket, settings
from labkit.drivers import s3 as s3_driver
from labkit.eks import names, plan
from labkit.target import ClusterTarget

from ..test_options import DEFAULTS

ROOT_CONFTEST = (settings.ROOT / "conftest.py").read_text()


class AwsCalled(AssertionError):
    pass


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any boto3/botocore client or any socket connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AwsCalled(f"plan mode made an AWS client or connection: {args[1:2]}")

    monkeypatch.setattr(botocore.session.Session, "create_client", refuse)
    monkeypatch.setattr(boto3.session.Session, "client", refuse)
    monkeypatch.setattr(boto3.session.Session, "resource", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_the_guard_does_catch_a_client(no_aws: None) -> None:
    with pytest.raises(AwsCalled):
        boto3.client("eks", region_name="eu-west-1")


def test_plan_cli_for_create_and_run_lists_creates_then_deletes_in_reverse(no_aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["--eks-create", "--region", "eu-west-1", "--run-id", "abc123"]) == 0
    out = capsys.readouterr().out
    create, delete = out.split("create, in order:")[1].split("delete at the end, in order:")
    created = [line.split()[1:3] for line in create.strip().splitlines() if line.strip()[:1].isdigit()]
    deleted = [line.split()[1:3] for line in delete.strip().splitlines() if line.strip()[:1].isdigit()]
    assert [kind for kind, _ in created] == [
        "iam-role", "iam-role", "vpc", "internet-gateway", "route-table",
        "subnet", "route-table-association", "subnet", "route-table-association",
        "eks-cluster", "oidc-provider", "eks-nodegroup", "s3-bucket", "iam-role", "eks-addon",
    ]  # fmt: skip
    assert deleted == created[::-1]
    assert ["s3-bucket", "storage-lab-abc123-mountpoint-s3-abc123"] in created
    assert "arn:aws:s3:::storage-lab-abc123-mountpoint-s3-abc123/*" in out
    assert "system:serviceaccount:kube-system:s3-csi-driver-sa" in out


def test_plan_shows_the_versions_as_chosen_at_run_time_unless_given(no_aws: None) -> None:
    p = plan.PlanInput("r1", "eu-west-1", "c", True, (), "irsa", True, "b")
    details = {i.kind: i.detail for i in plan.items(p)}
    assert details["eks-cluster"].startswith("Kubernetes newest EKS offers at run time that the S3 add-on supports;")
    without_s3 = {i.kind: i.detail for i in plan.items(replace(p, s3=False))}
    assert without_s3["eks-cluster"].startswith("Kubernetes newest EKS offers at run time;")
    assert "version: newest EKS offers at run time for the cluster's Kubernetes" in details["eks-addon"]
    assert "Kubernetes 1.32;" in plan.render(replace(p, kubernetes_version="1.32"))


def test_plan_for_an_existing_cluster_with_pod_identity_creates_no_cluster(no_aws: None) -> None:
    p = plan.PlanInput("r1", "us-east-1", "mine", False, (), "pod-identity", True, "mine-mountpoint-s3-r1", keep_namespaces=True)
    kinds = [i.kind for i in plan.items(p)]
    assert kinds == ["s3-bucket", "iam-role", "eks-addon", "pod-identity-association", "eks-addon"]
    text = plan.render(p)
    assert "eks-cluster" not in text
    assert "kept (--keep-namespaces)" in text
    assert text.split("delete at the end, in order:")[1].strip().startswith("(nothing)")


# --- options.parse (the core's integration point) ---------------------------------


def parse(**given: Any) -> options.LabOptions:
    values = {**DEFAULTS, "eks_cluster": None, "eks_create": False, "eks_region": None, **given}
    return options.parse(values.__getitem__)


def test_eks_needs_a_cluster_name_or_create(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(pytest.UsageError, match=r"--cluster eks needs --eks-cluster NAME \(an existing cluster\) or --eks-create"):
        parse(cluster="eks", eks_region="eu-west-1")


def test_eks_needs_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(pytest.UsageError, match=r"--cluster eks needs a region: pass --region R"):
        parse(cluster="eks", eks_cluster="lab")


def test_the_bucket_lives_in_the_clusters_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert parse(cluster="eks", eks_cluster="lab", eks_region="eu-west-1").s3_region == "eu-west-1"
    assert parse(cluster="eks", eks_cluster="lab", eks_region="eu-west-1", s3_region="us-west-2").s3_region == "us-west-2"


# --- the plugin, through pytest ------------------------------------------------------


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(ROOT_CONFTEST)
    return pytester


def test_eks_plan_option_prints_the_plan_and_exits_without_aws(suite: pytest.Pytester, no_aws: None) -> None:
    suite.makepyfile(test_x="def test_never_runs(variant, cluster):\n    raise AssertionError('TEST BODY RAN')\n")
    result = suite.runpytest("--cluster", "eks", "--eks-create", "--region", "eu-west-1", "--run-id", "abc123", "--eks-plan")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "EKS plan for run abc123 in eu-west-1, cluster storage-lab-abc123 (created for the run); no AWS call made",
            "create, in order:",
            "*1. iam-role *storage-lab-conformance-abc123-cluster*",
            "*15. eks-addon *aws-mountpoint-s3-csi-driver*",
            "delete at the end, in order:",
            "*1. eks-addon *aws-mountpoint-s3-csi-driver",
            "*15. iam-role *storage-lab-conformance-abc123-cluster",
        ]
    )
    assert "TEST BODY RAN" not in result.stdout.str()


def test_eks_plan_leaves_out_the_s3_driver_when_no_selected_test_needs_it(suite: pytest.Pytester, no_aws: None) -> None:
    suite.makepyfile(test_x="def test_never_runs(variant, cluster):\n    raise AssertionError('TEST BODY RAN')\n")
    result = suite.runpytest("--cluster", "eks", "--eks-cluster", "mine", "--region", "eu-west-1", "--eks-plan", "-k", "emptydir")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*cluster mine (existing, not modified)*", "create, in order:", "*(nothing: existing cluster*"])
    assert "s3-bucket" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--eks-create"], "ERROR: --eks-create go(es) with --cluster eks: add --cluster eks or drop them"),
        (
            ["--cluster", "eks", "--eks-cluster", "lab", "--region", "eu-west-1", "--eks-subnets", "subnet-1"],
            "ERROR: --eks-subnets goes with --eks-create*",
        ),
        (
            ["--cluster", "eks", "--eks-create", "--region", "eu-west-1", "--eks-subnets", "subnet-1"],
            "ERROR: --eks-subnets: EKS needs subnets in at least 2*",
        ),
        (["--cluster", "eks", "--eks-cluster", "x" * 60, "--region", "eu-west-1"], "ERROR: bucket name * is longer than 63 characters*"),
        (
            ["--cluster", "eks", "--eks-create", "--region", "not a region", "--eks-plan"],
            "ERROR: --region 'not a region' is not an AWS region name*",
        ),
        (
            ["--cluster", "eks", "--eks-create", "--region", "eu-west-1", "--eks-kubernetes-version", "v1.36.3", "--eks-plan"],
            "ERROR: --eks-kubernetes-version 'v1.36.3': use a minor like 1.33, or leave it out for the newest EKS offers",
        ),
    ],
)
def test_bad_eks_options_stop_at_start_up_with_the_fix(suite: pytest.Pytester, args: list[str], message: str) -> None:
    suite.makepyfile(test_x="def test_x():\n    pass\n")
    result = suite.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


class FakeSession:
    """Stands in for labkit.eks.session.EksSession: what the wiring hands to the core."""

    made: list[FakeSession] = []

    def __init__(self, eks: Any, timeouts: Any, workdir: Path, aws_timeouts: Any = None) -> None:
        self.eks, self.workdir, self.downs = eks, workdir, 0
        self.bucket: Any = None
        FakeSession.made.append(self)

    def up(self, s3_needed: bool) -> Any:
        from labkit import s3bucket as s3
        from labkit.target import ClusterTarget

        self.s3_needed = s3_needed
        self.bucket = s3.Bucket(s3.bucket_name(self.eks.bucket_prefix, self.eks.run_id), self.eks.region, None, client=None)  # type: ignore[arg-type]
        return ClusterTarget("eks", self.workdir / "kubeconfig", f"eks-{self.eks.cluster}", bucket=self.bucket)

    def down(self) -> list[str]:
        self.downs += 1
        return []


def test_cluster_eks_yields_the_eks_target_and_the_eks_bucket(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeSession.made.clear()
    monkeypatch.setattr("fixtures.eks.plugin.EksSession", FakeSession)
    suite.makepyfile(
        test_x="""
def test_target(cluster):
    assert (cluster.mode, cluster.context) == ("eks", "eks-lab")
    assert cluster.bucket.name == "lab-mountpoint-s3-r1"
"""
    )
    result = suite.runpytest("--cluster", "eks", "--eks-cluster", "lab", "--region", "eu-west-1", "--run-id", "r1")
    result.assert_outcomes(passed=1)
    (session,) = FakeSession.made
    assert session.downs == 1, "teardown ran"
    assert session.eks.bucket_prefix == names.bucket_prefix("lab")
    assert session.eks.identity == "irsa"
    assert session.eks.kubernetes_version is None, "not versions.env's pin: the newest EKS offers, asked at run time"


class EksSetup:
    """What the S3 driver sees of an EKS run: a cluster target, with or without its bucket."""

    def __init__(self, bucket: Any) -> None:
        self.cluster = ClusterTarget("eks", Path("/kc"), "ctx", bucket=bucket)
        self.kube = None

    def once(self, key: str, make: Any) -> Any:
        raise AssertionError(f"made {key} although the EKS session made the bucket")


def test_on_eks_the_s3_driver_mounts_the_bucket_the_eks_session_made() -> None:
    bucket = s3bucket.Bucket("lab-mountpoint-s3-r1", "eu-west-1", None, client=None)  # type: ignore[arg-type]
    setup: Any = EksSetup(bucket)
    assert s3_driver.DRIVER.unmet(setup) == []
    prepared = s3_driver.DRIVER.prepare(setup)
    assert prepared.values["S3_BUCKET"] == "lab-mountpoint-s3-r1"
    assert prepared.values["AWS_REGION"] == "eu-west-1"
    assert prepared.store is bucket


def test_on_eks_without_a_bucket_the_s3_driver_cannot_run_and_says_why() -> None:
    setup: Any = EksSetup(None)
    assert s3_driver.DRIVER.unmet(setup) == ["--cluster eks made no bucket: no selected test needed the S3 CSI driver"]


def test_the_plan_module_does_not_even_import_boto3() -> None:
    import subprocess
    import sys

    probe = "import sys, labkit.eks.plan; print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=settings.ROOT).stdout
    assert out.strip() == "[]"


def test_no_credentials_is_one_line_naming_the_fix_once(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    suite.makepyfile(test_x="def test_a(cluster):\n    pass\n\ndef test_b(cluster):\n    pass\n")
    result = suite.runpytest("--cluster", "eks", "--eks-cluster", "lab", "--region", "eu-west-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --cluster eks: no AWS credentials found: set AWS_PROFILE*; or pass --eks-plan*"])
    assert len(result.stderr.lines) <= 2
    assert "Traceback" not in result.stdout.str()
