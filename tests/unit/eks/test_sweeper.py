"""The sweeper: the suite's tagged leftovers older than the TTL, listed (dry run) or deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.stub import Stubber

from labkit import s3bucket as s3
from labkit import settings
from labkit.eks import sweeper, tags
from labkit.eks.aws import Clients

from .conftest import FAST, REGION, logs

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=7)
NEW = NOW - timedelta(minutes=30)
POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"}]}'


def make_role(iam: Any, name: str, run: str, when: datetime, ours: bool = True) -> None:
    role_tags = tags.as_list(run, when) if ours else [{"Key": "team", "Value": "x"}]
    iam.create_role(RoleName=name, Path=tags.IAM_PATH, AssumeRolePolicyDocument="{}", Tags=role_tags)
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=POLICY)


def make_bucket(client: Any, name: str, run: str, when: datetime) -> None:
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    client.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags.as_list(run, when)})
    client.put_object(Bucket=name, Key="divewatch.jpg", Body=b"")


def make_vpc(ec2: Any, run: str, when: datetime) -> str:
    spec = [{"ResourceType": "vpc", "Tags": tags.as_list(run, when, name=f"storage-lab-{run}")}]
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16", TagSpecifications=spec)["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.0.0/24")["Subnet"]["SubnetId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    return str(vpc)


@pytest.fixture
def world(clients: Clients, monkeypatch: pytest.MonkeyPatch) -> sweeper.Sweeper:
    """Old and new runs' resources, plus things that are not the suite's."""
    iam, ec2 = clients.iam, clients.ec2
    s3c: Any = s3.make_client(REGION, None)
    make_role(iam, "old-role", "oldrun", OLD)
    make_role(iam, "new-role", "newrun", NEW)
    make_role(iam, "foreign-role", "oldrun", OLD, ours=False)
    make_bucket(s3c, "lab-mountpoint-s3-oldrun", "oldrun", OLD)
    make_bucket(s3c, "lab-mountpoint-s3-newrun", "newrun", NEW)
    s3c.create_bucket(Bucket="someone-elses", CreateBucketConfiguration={"LocationConstraint": REGION})
    make_vpc(ec2, "oldrun", OLD)
    ec2.create_vpc(CidrBlock="10.9.0.0/16")  # not ours
    eks = clients.eks
    eks.create_cluster(
        name="storage-lab-oldrun",
        roleArn="arn:aws:iam::123456789012:role/r",
        resourcesVpcConfig={"subnetIds": ["subnet-1"]},
        tags=tags.as_dict("oldrun", OLD),
    )
    eks.create_nodegroup(
        clusterName="storage-lab-oldrun",
        nodegroupName="storage-lab-oldrun-nodes",
        nodeRole="arn:aws:iam::123456789012:role/n",
        subnets=["subnet-1"],
        tags=tags.as_dict("oldrun", OLD),
    )
    eks.create_cluster(name="users-cluster", roleArn="arn:aws:iam::123456789012:role/r", resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    # moto 5.2.5 has no EKS add-ons or Pod Identity: those finders are tested with a Stubber below.
    monkeypatch.setattr(sweeper.Sweeper, "_addons", lambda self, cluster: iter(()))
    return sweeper.Sweeper(clients, s3c, logs()[1], FAST)


def kinds_and_names(found: list[sweeper.Leftover]) -> list[tuple[str, str]]:
    return [(f.kind, f.name) for f in found]


def test_only_the_suites_resources_older_than_the_ttl_are_found_in_deletion_order(world: sweeper.Sweeper) -> None:
    found = world.find(timedelta(hours=6), now=NOW)
    assert kinds_and_names(found) == [
        ("eks-nodegroup", "storage-lab-oldrun-nodes"),
        ("eks-cluster", "storage-lab-oldrun"),
        ("iam-role", "old-role"),
        ("s3-bucket", "lab-mountpoint-s3-oldrun"),
        ("vpc", "storage-lab-oldrun"),
    ]
    assert {f.run for f in found} == {"oldrun"}


def test_a_zero_ttl_for_one_run_finds_that_run_at_once(world: sweeper.Sweeper) -> None:
    found = world.find(timedelta(0), run_id="newrun", now=NOW)
    assert kinds_and_names(found) == [("iam-role", "new-role"), ("s3-bucket", "lab-mountpoint-s3-newrun")]


def test_one_runs_sweep_finds_the_runs_of_its_versions_too(world: sweeper.Sweeper, clients: Clients) -> None:
    """labkit.matrix gives each Kubernetes version's run its own id, the run's with `k<minor>`."""
    make_role(clients.iam, "new-role-135", "newrunk135", NEW)
    make_role(clients.iam, "other-run-role", "newrun2", NEW)
    found = world.find(timedelta(0), run_id="newrun", now=NOW)
    assert sorted(kinds_and_names(found)) == [
        ("iam-role", "new-role"),
        ("iam-role", "new-role-135"),
        ("s3-bucket", "lab-mountpoint-s3-newrun"),
    ]


def test_dry_run_lists_and_deletes_nothing(world: sweeper.Sweeper, clients: Clients) -> None:
    lines, world.log = logs()
    found, failures = world.sweep(timedelta(hours=6), now=NOW)
    assert len(found) == 5
    assert failures == []
    assert all(line.startswith("would delete ") for line in lines)
    assert "would delete iam-role old-role (run oldrun, age 7h00m)" in lines
    assert len(clients.iam.list_roles(PathPrefix=tags.IAM_PATH)["Roles"]) == 3
    assert len(clients.eks.list_clusters()["clusters"]) == 2


def test_delete_removes_exactly_the_old_ones(world: sweeper.Sweeper, clients: Clients) -> None:
    found, failures = world.sweep(timedelta(hours=6), delete=True, now=NOW)
    assert failures == []
    assert len(found) == 5
    assert sorted(r["RoleName"] for r in clients.iam.list_roles(PathPrefix=tags.IAM_PATH)["Roles"]) == ["foreign-role", "new-role"]
    assert sorted(b["Name"] for b in world.s3.list_buckets()["Buckets"]) == ["lab-mountpoint-s3-newrun", "someone-elses"]
    assert clients.eks.list_clusters()["clusters"] == ["users-cluster"]
    assert clients.ec2.describe_vpcs(Filters=[{"Name": f"tag:{settings.LABEL_RUN}", "Values": ["oldrun"]}])["Vpcs"] == []
    assert world.find(timedelta(0), run_id="oldrun", now=NOW) == []


def test_addons_and_pod_identity_associations_on_any_cluster_are_found(clients: Clients) -> None:
    eks: Any = boto3.client("eks", region_name=REGION)
    clients.__dict__["eks"] = eks
    mine = tags.as_dict("oldrun", OLD)
    with Stubber(eks) as stub:
        stub.add_response("list_addons", {"addons": ["aws-mountpoint-s3-csi-driver", "vpc-cni"]})
        stub.add_response("describe_addon", {"addon": {"addonName": "aws-mountpoint-s3-csi-driver", "tags": mine}})
        stub.add_response("describe_addon", {"addon": {"addonName": "vpc-cni", "tags": {}}})
        stub.add_response(
            "list_pod_identity_associations",
            {"associations": [{"associationId": "a-1", "namespace": "kube-system", "serviceAccount": "s3-csi-driver-sa"}]},
        )
        stub.add_response("describe_pod_identity_association", {"association": {"associationId": "a-1", "tags": mine}})
        found = list(sweeper.Sweeper(clients, s3.make_client(REGION, None))._addons("users-cluster"))
    assert [(f.kind, f.name, f.parent) for f in found] == [
        ("eks-addon", "aws-mountpoint-s3-csi-driver", "users-cluster"),
        ("pod-identity-association", "kube-system/s3-csi-driver-sa", "users-cluster"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"), [("6h", timedelta(hours=6)), ("90m", timedelta(minutes=90)), ("2d", timedelta(days=2)), ("0", timedelta(0))]
)
def test_ttl_parsing(text: str, expected: timedelta) -> None:
    assert sweeper.parse_ttl(text) == expected


def test_a_bad_ttl_says_how_to_write_one() -> None:
    with pytest.raises(ValueError, match="use a number with s, m, h or d"):
        sweeper.parse_ttl("six hours")


def test_cli_is_a_dry_run_unless_told_to_delete(clients: Clients, capsys: pytest.CaptureFixture[str]) -> None:
    make_role(clients.iam, "leftover", "oldrun", datetime.now(UTC) - timedelta(days=1))
    assert sweeper.main(["--region", REGION]) == 0
    out = capsys.readouterr().out
    assert "would delete iam-role leftover (run oldrun, age 24h00m)" in out
    assert "sweeper: 1 found (dry run; pass --delete to delete)" in out
    assert [r["RoleName"] for r in clients.iam.list_roles(PathPrefix=tags.IAM_PATH)["Roles"]] == ["leftover"]
    assert sweeper.main(["--region", REGION, "--run-id", "oldrun", "--delete"]) == 0
    assert "deleted iam-role leftover" in capsys.readouterr().out
    assert clients.iam.list_roles(PathPrefix=tags.IAM_PATH)["Roles"] == []


def test_cli_without_credentials_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    assert sweeper.main(["--region", REGION]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sweeper: no AWS credentials found: set AWS_PROFILE")
    assert err.count("\n") == 1


def test_cli_refuses_a_region_that_is_not_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        sweeper.main(["--region", "not a region"])
    assert stopped.value.code == 2
    assert "--region 'not a region' is not an AWS region name: use one like eu-west-1" in capsys.readouterr().err


def deny(client: Any, operation: str, naming: str = "") -> None:
    """The service answers `operation` (where its request names `naming`) with AccessDenied,
    as a role scoped to the suite's resources gets for everyone else's."""

    def refuse(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if naming not in str(params):  # the serialised request: its path, query and body
            return None
        error = {"Code": "AccessDeniedException", "Message": f"User: nightly is not authorized to perform: x:{operation}"}
        return AWSResponse("https://aws.invalid", 403, HTTPHeaders(), None), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}

    client.meta.events.register(f"before-call.{client.meta.service_model.service_name}.{operation}", refuse)


def test_what_it_may_not_read_is_skipped_with_one_line_and_the_rest_is_swept(world: sweeper.Sweeper, clients: Clients) -> None:
    lines, world.log = logs()
    deny(clients.eks, "DescribeCluster", "users-cluster")
    deny(clients.iam, "ListRoleTags", "foreign-role")
    found, failures = world.sweep(timedelta(hours=6), delete=True, now=NOW)
    assert failures == []
    assert len(found) == 5, "every old resource of the suite's is still found"
    assert world.skipped == ["cluster users-cluster", "the tags of role foreign-role"]
    skipped = [line for line in lines if line.startswith("skipped ")]
    assert len(skipped) == 2
    assert skipped[0].startswith("skipped cluster users-cluster: these credentials may not read it (")
    assert clients.eks.list_clusters()["clusters"] == ["users-cluster"]


def test_a_kind_it_may_not_list_fails_the_sweep_and_the_others_go_on(world: sweeper.Sweeper, clients: Clients) -> None:
    lines, world.log = logs()
    deny(clients.eks, "ListClusters")
    found, failures = world.sweep(timedelta(hours=6), delete=True, now=NOW)
    assert [f.kind for f in found] == ["iam-role", "s3-bucket", "vpc"]
    assert len(failures) == 1
    assert failures[0].startswith("cannot list EKS clusters: ")
    assert any(line.startswith("FAILED to list EKS clusters (the rest goes on): ") for line in lines)


def test_the_sweeper_deletes_what_eks_left_in_a_vpc_before_the_vpc(clients: Clients) -> None:
    ec2 = clients.ec2
    vpc = make_vpc(ec2, "oldrun", OLD)
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
    left = ec2.create_network_interface(SubnetId=subnet, Description="aws-K8S-i-0abc")["NetworkInterface"]["NetworkInterfaceId"]
    group = ec2.create_security_group(GroupName="eks-cluster-sg-storage-lab-oldrun-1", Description="EKS created", VpcId=vpc)["GroupId"]
    found, failures = sweeper.Sweeper(clients, s3.make_client(REGION, None), logs()[1], FAST).sweep(timedelta(0), "oldrun", delete=True)
    assert [f.kind for f in found] == ["vpc"]
    assert failures == []
    assert ec2.describe_network_interfaces(Filters=[{"Name": "network-interface-id", "Values": [left]}])["NetworkInterfaces"] == []
    assert ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroups"] == []
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"] == []
