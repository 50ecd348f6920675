"""--eks-create on moto: what is made, how it is tagged, the plan agreeing with it, and teardown."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from fixtures import settings
from fixtures.eks import errors, names, plan, tags
from fixtures.eks.aws import Clients
from fixtures.eks.ledger import Ledger
from fixtures.eks.provision import Provisioner

from .conftest import FAST, REGION, logs

RUN = "abc123"


@pytest.fixture(autouse=True)
def managed_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto loads the AWS managed policies the roles attach (AmazonEKSClusterPolicy, ...) only when asked."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")


CLUSTER = names.default_cluster(RUN)


def provisioner(clients: Clients, ledger: Ledger, subnets: tuple[str, ...] = ()) -> Provisioner:
    return Provisioner(clients, ledger, RUN, CLUSTER, subnets, FAST, log=logs()[1])


def test_create_makes_a_tagged_cluster_with_two_nodes_and_an_oidc_provider(clients: Clients, tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.json")
    provisioner(clients, ledger).create()
    eks, iam, ec2 = clients.eks, clients.iam, clients.ec2

    cluster = eks.describe_cluster(name=CLUSTER)["cluster"]
    assert cluster["tags"][settings.LABEL_RUN] == RUN
    assert cluster["roleArn"].endswith(f"/{names.role(RUN, 'cluster')}")
    group = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=names.nodegroup(RUN))["nodegroup"]
    assert group["scalingConfig"] == {"minSize": 2, "maxSize": 2, "desiredSize": 2}
    assert group["nodeRole"].endswith(f"/{names.role(RUN, 'node')}")
    assert group["tags"][settings.LABEL_RUN] == RUN

    roles = iam.list_roles(PathPrefix=tags.IAM_PATH)["Roles"]
    assert sorted(r["RoleName"] for r in roles) == sorted([names.role(RUN, "cluster"), names.role(RUN, "node")])
    for role in roles:
        assert tags.is_ours(tags.from_list(iam.list_role_tags(RoleName=role["RoleName"])["Tags"]), RUN)
    attached = {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=names.role(RUN, "node"))["AttachedPolicies"]}
    assert attached == set(names.NODE_POLICIES)

    vpcs = ec2.describe_vpcs(Filters=[{"Name": f"tag:{settings.LABEL_RUN}", "Values": [RUN]}])["Vpcs"]
    assert len(vpcs) == 1
    assert vpcs[0]["CidrBlock"] == names.VPC_CIDR
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])["Subnets"]
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    assert all(s["MapPublicIpOnLaunch"] for s in subnets)
    assert sorted(cluster["resourcesVpcConfig"]["subnetIds"]) == sorted(s["SubnetId"] for s in subnets)

    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert len(providers) == 1
    assert providers[0]["Arn"].endswith(cluster["identity"]["oidc"]["issuer"].removeprefix("https://"))
    # The ledger file lists everything, for a person (or the sweeper) after a killed run.
    assert [e["kind"] for e in json.loads((tmp_path / "ledger.json").read_text())] == [e.kind for e in ledger.entries]


def test_the_plan_lists_exactly_what_a_run_creates(clients: Clients) -> None:
    ledger = Ledger()
    provisioner(clients, ledger).create()
    planned = plan.cluster_items(plan.PlanInput(RUN, REGION, CLUSTER, True, (), "irsa", False, "b"))
    made = [(e.kind, e.name) for e in ledger.entries]
    assert [i.kind for i in planned] == [kind for kind, _ in made]
    for item, (kind, name) in zip(planned, made, strict=True):
        if kind != "oidc-provider":  # the issuer id is known only once the cluster exists
            assert item.name == name


def test_teardown_deletes_everything_in_reverse_and_nothing_else(clients: Clients) -> None:
    iam = clients.iam
    iam.create_role(RoleName="someone-elses", Path=tags.IAM_PATH, AssumeRolePolicyDocument="{}")
    ledger = Ledger()
    p = provisioner(clients, ledger)
    p.create()
    lines, log = logs()
    assert ledger.undo(p.deleters(), log) == []
    assert ledger.entries == []
    assert [line.split()[2] for line in lines][:3] == ["eks-nodegroup", "oidc-provider", "eks-cluster"]
    assert clients.eks.list_clusters()["clusters"] == []
    assert [r["RoleName"] for r in iam.list_roles(PathPrefix=tags.IAM_PATH)["Roles"]] == ["someone-elses"]
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    assert clients.ec2.describe_vpcs(Filters=[{"Name": f"tag:{settings.LABEL_RUN}", "Values": [RUN]}])["Vpcs"] == []


def test_given_subnets_no_vpc_is_made(clients: Clients) -> None:
    ledger = Ledger()
    provisioner(clients, ledger, ("subnet-aaa", "subnet-bbb")).create()
    assert "vpc" not in {e.kind for e in ledger.entries}
    assert "subnet" not in {e.kind for e in ledger.entries}
    assert clients.eks.describe_cluster(name=CLUSTER)["cluster"]["resourcesVpcConfig"]["subnetIds"] == ["subnet-aaa", "subnet-bbb"]


def test_access_denied_names_the_missing_action_and_nothing_is_left(clients: Clients) -> None:
    iam = boto3.client("iam", region_name=REGION)
    clients.__dict__["iam"] = iam
    ledger = Ledger()
    with Stubber(iam) as stub:
        stub.add_client_error(
            "create_role",
            service_error_code="AccessDenied",
            service_message="User: arn:aws:sts::123456789012:assumed-role/ci/run is not authorized to perform: iam:CreateRole on resource: x",
            http_status_code=403,
        )
        with pytest.raises(errors.EksError) as caught:
            provisioner(clients, ledger).create()
    assert "AccessDenied: the AWS identity lacks iam:CreateRole" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert ledger.entries == []


def test_a_failed_delete_is_reported_and_kept_while_the_rest_goes(clients: Clients) -> None:
    ledger = Ledger()
    p = provisioner(clients, ledger)
    p.create()
    deleters = p.deleters()

    def refuse(entry: object) -> None:
        raise errors.EksError("delete: AccessDenied: the AWS identity lacks iam:DeleteRole")

    deleters["iam-role"] = refuse
    failures = ledger.undo(deleters, logs()[1])
    assert len(failures) == 2
    assert all("iam:DeleteRole" in f for f in failures)
    assert [e.kind for e in ledger.entries] == ["iam-role", "iam-role"]
    assert clients.eks.list_clusters()["clusters"] == []
