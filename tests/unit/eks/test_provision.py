"""--eks-create on moto: what is made, how it is tagged, the plan agreeing with it, and teardown;
with a Stubber: the exact arguments, and the answers moto never gives (IAM lag, zones, busy, gone)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from labkit import settings
from labkit.eks import errors, names, plan, tags
from labkit.eks.aws import Clients
from labkit.eks.ledger import Entry, Ledger
from labkit.eks.provision import EksTimeouts, Provisioner

from .conftest import FAST, REGION, logs

RUN = "abc123"


@pytest.fixture(autouse=True)
def managed_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto loads the AWS managed policies the roles attach (AmazonEKSClusterPolicy, ...) only when asked."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")


CLUSTER = names.default_cluster(RUN)


VERSION = "1.33"  # moto has no DescribeClusterVersions: the version EKS offers is tested with a Stubber


def provisioner(clients: Clients, ledger: Ledger, subnets: tuple[str, ...] = (), timeouts: EksTimeouts = FAST) -> Provisioner:
    return Provisioner(clients, ledger, RUN, CLUSTER, subnets, timeouts, VERSION, log=logs()[1])


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


# --- Stubber sequences: what moto never answers, and the exact arguments ------------------

ROLE = f"arn:aws:iam::123456789012:role/{settings.PROJECT}/{names.role(RUN, 'cluster')}"
NODE_ROLE = f"arn:aws:iam::123456789012:role/{settings.PROJECT}/{names.role(RUN, 'node')}"
CLUSTER_ARN = f"arn:aws:eks:{REGION}:123456789012:cluster/{CLUSTER}"
SUBNETS = ["subnet-0aaa", "subnet-0bbb"]
NOT_ASSUMABLE = f"Role with arn: {ROLE}, could not be assumed because it does not exist or the trusted entity is not correct"
STAMP = "2026-11-25T12:00:00Z"


def invalid(stub: Stubber, operation: str, message: str) -> None:
    stub.add_client_error(operation, service_error_code="InvalidParameterException", service_message=message, http_status_code=400)


def made_cluster(status: str = "ACTIVE") -> dict[str, Any]:
    return {"cluster": {"name": CLUSTER, "arn": CLUSTER_ARN, "status": status}}


def made_nodegroup(status: str = "ACTIVE") -> dict[str, Any]:
    return {"nodegroup": {"nodegroupName": names.nodegroup(RUN), "clusterName": CLUSTER, "status": status}}


def gone(stub: Stubber, operation: str) -> None:
    stub.add_client_error(operation, service_error_code="ResourceNotFoundException", http_status_code=404)


def test_create_cluster_and_nodegroup_send_exactly_these_arguments(
    clients: Clients, eks_stub: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tags, "stamp", lambda now=None: STAMP)
    run_tags = {settings.LABEL_RUN: RUN, settings.LABEL_MANAGED_BY: settings.PROJECT, tags.CREATED: STAMP}
    eks_stub.add_response(
        "create_cluster",
        made_cluster("CREATING"),
        {
            "name": CLUSTER,
            "version": VERSION,
            "roleArn": ROLE,
            "resourcesVpcConfig": {"subnetIds": SUBNETS, "endpointPublicAccess": True},
            "accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True},
            "tags": run_tags,
        },
    )
    eks_stub.add_response("describe_cluster", made_cluster(), {"name": CLUSTER})
    eks_stub.add_response(
        "create_nodegroup",
        made_nodegroup("CREATING"),
        {
            "clusterName": CLUSTER,
            "nodegroupName": names.nodegroup(RUN),
            "nodeRole": NODE_ROLE,
            "subnets": SUBNETS,
            "scalingConfig": {"minSize": 2, "maxSize": 2, "desiredSize": 2},
            "instanceTypes": ["t3.medium"],
            "tags": run_tags,
        },
    )
    eks_stub.add_response("describe_nodegroup", made_nodegroup(), {"clusterName": CLUSTER, "nodegroupName": names.nodegroup(RUN)})
    p = provisioner(clients, Ledger())
    assert p._cluster(ROLE, SUBNETS) == SUBNETS
    p._nodegroup(NODE_ROLE, SUBNETS)


# 1. A role made moments ago: EKS refuses it until IAM has propagated it.


@pytest.mark.parametrize(
    ("operation", "answer", "waiter", "step"),
    [
        ("create_cluster", made_cluster("CREATING"), ("describe_cluster", made_cluster()), lambda p: p._cluster(ROLE, SUBNETS)),
        (
            "create_nodegroup",
            made_nodegroup("CREATING"),
            ("describe_nodegroup", made_nodegroup()),
            lambda p: p._nodegroup(NODE_ROLE, SUBNETS),
        ),
    ],
    ids=["CreateCluster", "CreateNodegroup"],
)
def test_a_new_role_eks_cannot_assume_yet_is_retried_until_it_can(
    clients: Clients, eks_stub: Stubber, operation: str, answer: dict[str, Any], waiter: tuple[str, Any], step: Any
) -> None:
    invalid(eks_stub, operation, NOT_ASSUMABLE)
    eks_stub.add_response(operation, answer)
    eks_stub.add_response(*waiter)
    step(provisioner(clients, Ledger()))


def test_another_invalid_parameter_is_not_retried_and_names_the_fix(clients: Clients, eks_stub: Stubber) -> None:
    invalid(eks_stub, "create_cluster", "unsupported Kubernetes version 1.36")
    ledger = Ledger()
    with pytest.raises(errors.EksError) as caught:
        provisioner(clients, ledger)._cluster(ROLE, SUBNETS)
    assert str(caught.value) == (
        f"create EKS cluster {CLUSTER}: InvalidParameterException: unsupported Kubernetes version 1.36: "
        "pass a version EKS offers (aws eks describe-cluster-versions) as --eks-kubernetes-version, or leave it out for the newest"
    )
    assert ledger.entries == []


def test_a_role_still_refused_past_the_bound_says_what_to_check(clients: Clients, eks_stub: Stubber) -> None:
    invalid(eks_stub, "create_cluster", NOT_ASSUMABLE)  # one answer: the 0 s bound allows no second call
    with pytest.raises(errors.EksError) as caught:
        provisioner(clients, Ledger(), timeouts=replace(FAST, iam_propagation=0))._cluster(ROLE, SUBNETS)
    text = str(caught.value)
    assert "could not be assumed" in text
    assert text.endswith(
        "(still refused after 0s for IAM to propagate): check the role's trust policy and attached policies, or pass a larger --timeout-scale"
    )
    assert "\n" not in text


# 2. Availability zones: zones proper, and a zone EKS refuses for the cluster.

ANY_REST = {"resourcesVpcConfig": ANY, "accessConfig": ANY, "tags": ANY}
ZONES_PROPER = [{"Name": "state", "Values": ["available"]}, {"Name": "zone-type", "Values": ["availability-zone"]}]


def test_zones_are_availability_zones_proper_never_local_zones(clients: Clients, ec2_stub: Stubber) -> None:
    listed = {"AvailabilityZones": [{"ZoneName": "eu-west-1a"}, {"ZoneName": "eu-west-1b"}]}
    ec2_stub.add_response("describe_availability_zones", listed, {"Filters": ZONES_PROPER})
    assert provisioner(clients, Ledger()).zones() == ["eu-west-1a", "eu-west-1b"]


def test_listing_zones_is_wrapped_like_every_call(clients: Clients, ec2_stub: Stubber) -> None:
    ec2_stub.add_client_error(
        "describe_availability_zones",
        service_error_code="UnauthorizedOperation",
        service_message="You are not authorized to perform: ec2:DescribeAvailabilityZones",
        http_status_code=403,
    )
    with pytest.raises(
        errors.EksError, match=r"list the availability zones of eu-west-1: UnauthorizedOperation: the AWS identity lacks ec2:"
    ):
        provisioner(clients, Ledger()).zones()


def zone_refused(stub: Stubber, refused: str, offered: str) -> None:
    """CreateCluster's UnsupportedAvailabilityZoneException, worded as EKS words it."""
    stub.add_client_error(
        "create_cluster",
        service_error_code="UnsupportedAvailabilityZoneException",
        service_message=(
            f"Cannot create cluster '{CLUSTER}' because {refused}, the targeted availability zone, does not currently have "
            f"sufficient capacity to support the cluster. Retry and choose from these availability zones: {offered}"
        ),
        http_status_code=400,
    )


def test_a_refused_zone_moves_its_subnet_to_an_offered_zone_and_creates_once_more(clients: Clients, eks_stub: Stubber) -> None:
    ledger = Ledger()
    p = provisioner(clients, ledger)
    first = p._vpc()
    ec2 = clients.ec2
    zone_of = {s["SubnetId"]: s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=first)["Subnets"]}
    assert sorted(zone_of.values()) == ["eu-west-1a", "eu-west-1b"]
    refused = next(s for s, z in zone_of.items() if z == "eu-west-1b")
    zone_refused(eks_stub, "eu-west-1b", "eu-west-1a, eu-west-1c")
    eks_stub.add_response("create_cluster", made_cluster("CREATING"), {"name": CLUSTER, "version": VERSION, "roleArn": ROLE, **ANY_REST})
    eks_stub.add_response("describe_cluster", made_cluster())

    subnets = p._cluster(ROLE, first)

    assert len(subnets) == 2
    assert refused not in subnets
    now = {
        s["SubnetId"]: s["AvailabilityZone"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [p._vpc_id]}])["Subnets"]
    }
    assert now == dict(zip(subnets, ["eu-west-1a", "eu-west-1c"], strict=True)), "the refused zone's subnet is gone, one in 1c made"
    assert [e.name for e in ledger.entries if e.kind == "subnet"] == [names.subnet(RUN, 0), names.subnet(RUN, 2)]
    assert ledger.entries[-1].kind == "eks-cluster"
    assert len([e for e in ledger.entries if e.kind == "route-table-association"]) == 2


def test_a_refused_zone_with_given_subnets_names_the_zones_to_use(clients: Clients, eks_stub: Stubber) -> None:
    zone_refused(eks_stub, "us-east-1e", "us-east-1a, us-east-1b, us-east-1c")
    with pytest.raises(errors.EksError) as caught:
        provisioner(clients, Ledger(), subnets=tuple(SUBNETS))._cluster(ROLE, SUBNETS)
    assert str(caught.value).endswith("; pass --eks-subnets in us-east-1a, us-east-1b, us-east-1c")


def test_the_offered_zones_come_from_the_message_or_the_valid_zones_field() -> None:
    message = "Cannot create cluster 'x' because us-east-1e, the targeted availability zone, ... choose from these availability zones: us-east-1a, us-east-1b"
    err = ClientError({"Error": {"Code": "UnsupportedAvailabilityZoneException", "Message": message}}, "CreateCluster")
    assert errors.supported_zones(err) == ["us-east-1a", "us-east-1b"]
    fielded = ClientError(
        {"Error": {"Code": "UnsupportedAvailabilityZoneException", "Message": "x"}, "validZones": ["us-east-1c"]},  # type: ignore[typeddict-unknown-key]
        "CreateCluster",
    )
    assert errors.supported_zones(fielded) == ["us-east-1c"]
    assert errors.supported_zones(ClientError({"Error": {"Code": "InvalidParameterException", "Message": message}}, "CreateCluster")) == []


# 3. Teardown after an interrupted create: wait until it can be deleted, then delete.


def test_a_cluster_still_creating_is_waited_for_then_deleted(clients: Clients, eks_stub: Stubber) -> None:
    eks_stub.add_response("describe_cluster", made_cluster("CREATING"), {"name": CLUSTER})
    eks_stub.add_response("describe_cluster", made_cluster("ACTIVE"), {"name": CLUSTER})
    eks_stub.add_response("delete_cluster", made_cluster("DELETING"), {"name": CLUSTER})
    gone(eks_stub, "describe_cluster")  # the ClusterDeleted waiter
    provisioner(clients, Ledger()).deleters()["eks-cluster"](Entry("eks-cluster", CLUSTER, CLUSTER_ARN))


def test_a_nodegroup_still_creating_is_waited_for_then_deleted(clients: Clients, eks_stub: Stubber) -> None:
    group = names.nodegroup(RUN)
    keys = {"clusterName": CLUSTER, "nodegroupName": group}
    eks_stub.add_response("describe_nodegroup", made_nodegroup("CREATING"), keys)
    eks_stub.add_response("describe_nodegroup", made_nodegroup("ACTIVE"), keys)
    eks_stub.add_response("delete_nodegroup", made_nodegroup("DELETING"), keys)
    gone(eks_stub, "describe_nodegroup")
    provisioner(clients, Ledger()).deleters()["eks-nodegroup"](Entry("eks-nodegroup", group, group, CLUSTER))


def test_a_cluster_already_deleting_is_only_waited_for_and_one_already_gone_is_done(clients: Clients, eks_stub: Stubber) -> None:
    eks_stub.add_response("describe_cluster", made_cluster("DELETING"))
    gone(eks_stub, "describe_cluster")
    gone(eks_stub, "describe_cluster")
    delete = provisioner(clients, Ledger()).deleters()["eks-cluster"]
    delete(Entry("eks-cluster", CLUSTER, CLUSTER_ARN))
    delete(Entry("eks-cluster", CLUSTER, CLUSTER_ARN))


def test_a_cluster_creating_past_its_bound_is_reported_in_one_line(clients: Clients) -> None:
    p = provisioner(clients, Ledger())
    with pytest.raises(errors.EksError) as caught:
        p._settled(f"cluster {CLUSTER}", lambda: made_cluster("CREATING"), "cluster", 0.3)
    text = str(caught.value)
    assert f"waiting for cluster {CLUSTER} to settle before it is deleted; last seen: cluster {CLUSTER} CREATING" in text
    assert text.endswith(": delete it once it has settled (or run the sweeper later)")


# 4. Already gone is success; DependencyViolation is waited out, then named.


@pytest.mark.parametrize(
    ("entry", "answers"),
    [
        (Entry("vpc", "v", "vpc-1"), [("delete_vpc", "InvalidVpcID.NotFound")]),
        (Entry("subnet", "s", "subnet-1", "vpc-1"), [("delete_subnet", "InvalidSubnetID.NotFound")]),
        (Entry("route-table", "r", "rtb-1", "vpc-1"), [("delete_route_table", "InvalidRouteTableID.NotFound")]),
        (Entry("route-table-association", "a", "rtbassoc-1", "rtb-1"), [("disassociate_route_table", "InvalidAssociationID.NotFound")]),
        (
            Entry("internet-gateway", "i", "igw-1", "vpc-1"),
            [("detach_internet_gateway", "Gateway.NotAttached"), ("delete_internet_gateway", "InvalidInternetGatewayID.NotFound")],
        ),
        (
            Entry("internet-gateway", "i", "igw-1", "vpc-1"),
            [
                ("detach_internet_gateway", "InvalidInternetGatewayID.NotFound"),
                ("delete_internet_gateway", "InvalidInternetGatewayID.NotFound"),
            ],
        ),
    ],
    ids=["vpc", "subnet", "route-table", "association", "igw-detached", "igw-gone"],
)
def test_deleting_what_is_already_gone_is_success(
    clients: Clients, ec2_stub: Stubber, entry: Entry, answers: list[tuple[str, str]]
) -> None:
    if entry.kind in ("subnet", "vpc"):
        nothing_left_in(ec2_stub, f"{entry.kind}-id", entry.id, groups=entry.kind == "vpc")
    for operation, code in answers:
        ec2_stub.add_client_error(operation, service_error_code=code, http_status_code=400)
    provisioner(clients, Ledger()).deleters()[entry.kind](entry)


def nothing_left_in(stub: Stubber, key: str, value: str, groups: bool = False) -> None:
    """What teardown reads before a subnet or VPC: no detached interface (and no security group) left there."""
    stub.add_response(
        "describe_network_interfaces", {"NetworkInterfaces": []}, {"Filters": [{"Name": key, "Values": [value]}, STATUS_AVAILABLE]}
    )
    if groups:
        stub.add_response("describe_security_groups", {"SecurityGroups": []}, {"Filters": [{"Name": key, "Values": [value]}]})


STATUS_AVAILABLE = {"Name": "status", "Values": ["available"]}


def dependency_violation(stub: Stubber) -> None:
    stub.add_client_error(
        "delete_subnet",
        service_error_code="DependencyViolation",
        service_message="The subnet 'subnet-1' has dependencies and cannot be deleted.",
        http_status_code=400,
    )


def test_a_dependency_violation_is_retried_until_the_delete_goes(clients: Clients, ec2_stub: Stubber) -> None:
    nothing_left_in(ec2_stub, "subnet-id", "subnet-1")
    dependency_violation(ec2_stub)
    dependency_violation(ec2_stub)
    ec2_stub.add_response("delete_subnet", {}, {"SubnetId": "subnet-1"})
    p = provisioner(clients, Ledger(), timeouts=replace(FAST, dependency_wait=30))
    p.deleters()["subnet"](Entry("subnet", "s", "subnet-1", "vpc-1"))


def test_a_dependency_violation_past_its_bound_names_what_still_uses_it(clients: Clients, ec2_stub: Stubber) -> None:
    nothing_left_in(ec2_stub, "subnet-id", "subnet-1")  # the node's interface is attached: not for teardown to delete
    dependency_violation(ec2_stub)  # one answer: the 0 s bound allows no second call
    ec2_stub.add_response(
        "describe_network_interfaces",
        {"NetworkInterfaces": [{"NetworkInterfaceId": "eni-0abc", "Description": f"Amazon EKS {CLUSTER}", "InterfaceType": "interface"}]},
        {"Filters": [{"Name": "subnet-id", "Values": ["subnet-1"]}]},
    )
    p = provisioner(clients, Ledger(), timeouts=replace(FAST, dependency_wait=0))
    with pytest.raises(errors.EksError) as caught:
        p.deleters()["subnet"](Entry("subnet", "s", "subnet-1", "vpc-1"))
    assert str(caught.value) == (
        f"delete subnet subnet-1: DependencyViolation for 0s: still used by eni-0abc (Amazon EKS {CLUSTER}); "
        "delete those (a deleted cluster's interfaces go within minutes), then run the sweeper"
    )


def test_a_dependency_violation_without_listed_users_keeps_ec2s_words(clients: Clients, ec2_stub: Stubber) -> None:
    ec2_stub.add_client_error(
        "delete_route_table",
        service_error_code="DependencyViolation",
        service_message="The routeTable 'rtb-1' has dependencies and cannot be deleted.",
        http_status_code=400,
    )
    with pytest.raises(
        errors.EksError, match=r"^delete route table rtb-1: DependencyViolation for 0s: The routeTable 'rtb-1' has dependencies"
    ):
        provisioner(clients, Ledger(), timeouts=replace(FAST, dependency_wait=0)).deleters()["route-table"](
            Entry("route-table", "r", "rtb-1", "vpc-1")
        )


def nodegroup_zone_refused(stub: Stubber, offered: str) -> None:
    """CreateNodegroup's UnsupportedAvailabilityZoneException: the node type is not offered in a zone."""
    stub.add_client_error(
        "create_nodegroup",
        service_error_code="UnsupportedAvailabilityZoneException",
        service_message=f"Your requested instance type is not supported in your requested availability zone. Try {offered}",
        http_status_code=400,
    )


def test_a_node_group_refused_a_zone_goes_on_the_subnets_of_the_zones_offered(clients: Clients, eks_stub: Stubber) -> None:
    p = provisioner(clients, Ledger())
    subnets = p._vpc()
    zone_of = {s["SubnetId"]: s["AvailabilityZone"] for s in clients.ec2.describe_subnets(SubnetIds=subnets)["Subnets"]}
    kept = next(s for s, z in zone_of.items() if z == "eu-west-1a")
    nodegroup_zone_refused(eks_stub, "availability zones: eu-west-1a, eu-west-1c")
    eks_stub.add_response(
        "create_nodegroup",
        {"nodegroup": {"nodegroupName": "n"}},
        {
            "clusterName": CLUSTER,
            "subnets": [kept],
            "nodegroupName": ANY,
            "nodeRole": ANY,
            "scalingConfig": ANY,
            "instanceTypes": ANY,
            "tags": ANY,
        },
    )
    eks_stub.add_response("describe_nodegroup", {"nodegroup": {"status": "ACTIVE"}})
    p._nodegroup(NODE_ROLE, subnets)
    eks_stub.assert_no_pending_responses()


def test_a_node_group_with_no_subnet_in_an_offered_zone_names_the_zones(clients: Clients, eks_stub: Stubber) -> None:
    p = provisioner(clients, Ledger())
    subnets = p._vpc()
    nodegroup_zone_refused(eks_stub, "availability zones: eu-west-1c")
    with pytest.raises(errors.EksError) as caught:
        p._nodegroup(NODE_ROLE, subnets)
    assert str(caught.value).endswith("; no subnet of the run is in eu-west-1c: pass --eks-subnets there")


@pytest.mark.parametrize(
    ("message", "propagating"),
    [
        (NOT_ASSUMABLE, True),
        ("The provided role doesn't have the Amazon EKS Managed Policies associated with it", True),
        ("The subnet ID 'subnet-0bad' does not exist", False),
        ("Subnets specified must be in at least two different AZs", False),
        ("The security group 'sg-0123abcd' does not exist", False),
    ],
)
def test_only_a_role_not_seen_yet_is_waited_for_as_iam_propagation(message: str, propagating: bool) -> None:
    """A wrong --eks-subnets id fails now, with EKS's words, instead of waiting out the IAM bound."""
    err = ClientError({"Error": {"Code": "InvalidParameterException", "Message": message}}, "CreateCluster")
    assert errors.is_iam_not_yet(err) is propagating


def test_teardown_deletes_the_interfaces_and_security_groups_eks_leaves_in_the_vpc(clients: Clients) -> None:
    """Detached VPC CNI interfaces and the cluster security group EKS made keep the VPC (one of
    five per region) from going; teardown deletes them first, and nothing attached or default."""
    ledger = Ledger()
    p = provisioner(clients, ledger)
    subnets = p._vpc()
    ec2 = clients.ec2
    left = ec2.create_network_interface(SubnetId=subnets[0], Description="aws-K8S-i-0abc")["NetworkInterface"]["NetworkInterfaceId"]
    group = ec2.create_security_group(GroupName=f"eks-cluster-sg-{CLUSTER}-1", Description="EKS created", VpcId=p._vpc_id)["GroupId"]
    lines, p.log = logs()
    assert ledger.undo(p.deleters(), logs()[1]) == []
    assert ec2.describe_network_interfaces(Filters=[{"Name": "network-interface-id", "Values": [left]}])["NetworkInterfaces"] == []
    assert ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroups"] == []
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [p._vpc_id]}])["Vpcs"] == []
    assert any(line.startswith(f"eks: deleting network interface {left} (aws-K8S-i-0abc)") for line in lines)
    assert any(line.startswith(f"eks: deleting security group {group}") for line in lines)
