"""The nightly's dry run: its steps are the workflow's, its AWS stand-in reads each request as the
operation AWS would, answers what moto lacks as EKS does, and a request a policy does not allow,
or a workflow the dry run cannot follow, fails it by name.

The stand-in is served here on loopback (no pod, no cluster); `tox -e eks-dryrun` runs the whole."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from fixtures.eks import plugin
from labkit import settings
from labkit.eks import dryrun, names, standin
from labkit.eks.session import EksOptions, EksSession, LocalCluster

from .conftest import FAST, REGION, logs
from .test_s3csi import kube
from .test_session import RUN, options
from .test_session import split as split  # the fixture

VALUES = {"AWS_REGION": REGION, "RUN_ID": "d1234567", "EKS_IDENTITY": "irsa", "EKS_VERSIONS": "1.36"}


def test_the_dry_run_runs_the_workflows_lab_and_sweep_steps_with_its_values() -> None:
    found = dryrun.steps(dryrun.WORKFLOW, VALUES, ["--extra"])
    assert [s.job for s in found] == ["eks", "eks", "sweep", "sweep"]
    plan, lab, this_run, older = found
    assert "--eks-plan" in plan.argv
    assert lab.argv[3:] == (
        "tests/lab",
        "--cluster", "eks", "--eks-create", "--region", REGION, "--run-id", "d1234567k136", "--eks-identity", "irsa",
        "--require", "all", "--durations=20", "--eks-kubernetes-version", "1.36", "--extra",
    )  # fmt: skip
    assert lab.run_id("d1234567") == "d1234567k136", "the killed step's objects are found by the version's run id"
    assert plan.run_id("x") == "d1234567"
    assert this_run.argv[1:] == ("-m", "labkit.eks.sweeper", "--region", REGION, "--run-id", "d1234567", "--ttl", "0", "--delete")
    assert older.argv[-3:] == ("--ttl", "6h", "--delete")
    assert older.always
    assert not this_run.always


def test_each_version_of_the_nightlys_matrix_is_a_lab_step_of_its_own() -> None:
    found = dryrun.steps(dryrun.WORKFLOW, {**VALUES, "EKS_VERSIONS": "1.35,1.36"}, [])
    labs = [s for s in found if "--eks-create" in s.argv and "--eks-plan" not in s.argv]
    assert [(s.name.rpartition(" ")[2], s.run_id("")) for s in labs] == [("(1.35)", "d1234567k135"), ("(1.36)", "d1234567k136")]


def test_a_workflow_the_dry_run_cannot_follow_fails_it_by_name(tmp_path: Path) -> None:
    workflow = tmp_path / "nightly.yml"
    workflow.write_text("jobs:\n  eks:\n    steps:\n      - run: tox -e lab -- --cluster eks --eks-create\n")
    with pytest.raises(dryrun.DryRunError, match="no sweeper step"):
        dryrun.steps(workflow, VALUES, [])
    workflow.write_text("jobs:\n  eks:\n    steps:\n      - run: python -m labkit.matrix --env kind --kubernetes-version 1.35 -- x\n")
    with pytest.raises(dryrun.DryRunError, match=r"runs labkit\.matrix on kind, not on EKS"):
        dryrun.steps(workflow, VALUES, [])


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "expected"),
    [
        ("PUT", "/bucket-one/a/b.jpg", {}, [], "PutObject"),
        ("PUT", "/bucket-one/a/b.jpg", {}, ["x-amz-copy-source"], "CopyObject"),
        ("PUT", "/bucket-one/a", {"partNumber": ["1"], "uploadId": ["u"]}, [], "UploadPart"),
        ("POST", "/bucket-one/a", {"uploads": [""]}, [], "CreateMultipartUpload"),
        ("POST", "/bucket-one/a", {"uploadId": ["u"]}, [], "CompleteMultipartUpload"),
        ("GET", "/bucket-one/", {"list-type": ["2"], "prefix": [""]}, [], "ListObjectsV2"),
        ("GET", "/bucket-one", {}, [], "ListObjects"),
        ("PUT", "/bucket-one", {"publicAccessBlock": [""]}, [], "PutPublicAccessBlock"),
        ("GET", "/", {}, [], "ListBuckets"),
    ],
)
def test_an_s3_request_is_the_operation_its_method_path_query_and_headers_say(
    method: str, path: str, query: dict[str, list[str]], headers: list[str], expected: str
) -> None:
    assert standin.operation_of("s3", method, path, query, {}, headers)[0] == expected


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The stand-in's app on a loopback port, as `python -m labkit.eks.standin` serves it."""
    record = tmp_path / "record.jsonl"
    extras = standin.EksExtras("1.36", {names.ADDON: "v1.15.0-eksbuild.1"}, DEFAULT_ACCOUNT_ID)
    app = standin.wrap(DomainDispatcherApplication(create_backend_app), standin.Recorder(str(record)), extras)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", record
    server.shutdown()


def client(endpoint: str, service: str) -> Any:
    return boto3.session.Session(region_name=REGION).client(service, endpoint_url=endpoint)  # type: ignore[call-overload]


def test_the_standin_answers_the_addon_calls_as_eks_and_records_each_request(served: tuple[str, Path]) -> None:
    endpoint, record = served
    eks, iam = client(endpoint, "eks"), client(endpoint, "iam")
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.create_addon(clusterName="nobody", addonName=names.ADDON)
    role = iam.create_role(RoleName="standin-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    eks.create_cluster(name="c1", roleArn=role, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    with pytest.raises(eks.exceptions.InvalidParameterException, match="does not exist"):
        eks.create_addon(clusterName="c1", addonName=names.ADDON, serviceAccountRoleArn=role + "-gone")
    assert eks.create_addon(clusterName="c1", addonName=names.ADDON, serviceAccountRoleArn=role)["addon"]["status"] == "ACTIVE"
    with pytest.raises(eks.exceptions.ResourceInUseException):
        eks.create_addon(clusterName="c1", addonName=names.ADDON)
    versions = eks.describe_addon_versions(addonName=names.ADDON, kubernetesVersion="1.36")["addons"][0]["addonVersions"]
    assert versions[0]["addonVersion"] == "v1.15.0-eksbuild.1"
    eks.delete_cluster(name="c1")
    eks.create_cluster(name="c1", roleArn=role, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    assert eks.list_addons(clusterName="c1")["addons"] == [], "a cluster's add-ons go with it"

    sent = [(r["service"], r["operation"], r["status"]) for r in map(json.loads, record.read_text().splitlines())]
    assert sent == [
        ("eks", "CreateAddon", 404),
        ("iam", "CreateRole", 200),
        ("eks", "CreateCluster", 200),
        ("eks", "CreateAddon", 400),
        ("eks", "CreateAddon", 200),
        ("eks", "CreateAddon", 409),
        ("eks", "DescribeAddonVersions", 200),
        ("eks", "DeleteCluster", 200),
        ("eks", "CreateCluster", 200),
        ("eks", "ListAddons", 200),
    ]


def entry(n: int, key: str, service: str, operation: str) -> dict[str, Any]:
    return {"n": n, "t": 0.0, "service": service, "operation": operation, "key": key, "status": 200, "path": "/"}


def test_a_request_a_policy_does_not_allow_fails_the_dry_run_naming_it() -> None:
    keys = dryrun.Keys()
    nightly, driver = keys.nightly.access_key_id, keys.driver.access_key_id
    records = [
        entry(1, nightly, "eks", "CreateCluster"),
        entry(2, nightly, "ec2", "RunInstances"),
        entry(3, driver, "s3", "GetObject"),
        entry(4, driver, "s3", "DeleteBucket"),
    ]
    lines, failures = dryrun.transcript(records, [("eks: lab", 1, 4, "exit 0")], keys, "the-bucket")
    assert failures == [
        "nightly-policy.json does not allow what the nightly sent: ec2:RunInstances",
        "the Mountpoint policy does not allow what the driver sent: s3:DeleteBucket",
    ]
    assert "  +    1 [eks: lab] nightly: eks:CreateCluster / -> 200" in lines


def test_a_request_no_operation_matches_is_not_let_through_unchecked() -> None:
    keys = dryrun.Keys()
    _, failures = dryrun.transcript([{**entry(1, keys.nightly.access_key_id, "eks", ""), "path": "/odd"}], [], keys, "b")
    assert failures == ["requests no AWS operation matches (not checked against a policy): eks /odd"]


@pytest.mark.parametrize("endpoint", [None, "https://eks.eu-west-1.amazonaws.com", "http://10.0.0.5:4566"])
def test_eks_dry_run_refuses_an_aws_that_is_not_the_local_standin(
    endpoint: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if endpoint is None:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    with pytest.raises(pytest.UsageError, match="AWS_ENDPOINT_URL must name the local AWS stand-in on loopback"):
        plugin.dry_run(str(tmp_path / "cluster.json"))


def test_eks_dry_run_reads_the_dry_runs_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    given = tmp_path / "cluster.json"
    given.write_text(json.dumps({"kubeconfig": "/k", "context": None, "s3_endpoint": "http://10.96.0.9:4566"}))
    assert plugin.dry_run(str(given)) == LocalCluster(Path("/k"), None, "http://10.96.0.9:4566")
    given.write_text("{}")
    with pytest.raises(pytest.UsageError, match="not the dry run's file"):
        plugin.dry_run(str(given))


def test_a_dry_run_session_runs_its_kubernetes_part_on_the_local_cluster(clients: Any, split: Any, tmp_path: Path) -> None:
    local = LocalCluster(tmp_path / "local.kubeconfig", "local", "http://10.96.0.9:4566")
    given: EksOptions = options(tmp_path, local=local)
    connected: list[tuple[Path, str | None]] = []

    def connect(path: Path, context: str | None) -> Any:
        connected.append((path, context))
        return kube()

    session = EksSession(given, settings.Timeouts(), tmp_path / "work", clients, FAST, connect=connect, log=logs()[1])
    target = session.up(s3_needed=True)
    assert connected == [(local.kubeconfig, "local")]
    assert (target.kubeconfig, target.context) == (local.kubeconfig, "local")
    assert target.bucket is not None
    assert target.bucket.endpoint == local.s3_endpoint
    assert not (tmp_path / "work").exists() or not list((tmp_path / "work").iterdir()), "no EKS kubeconfig written"
    assert names.default_cluster(RUN) in [e.name for e in session.cluster_ledger.entries]
