"""The S3 CSI prerequisites on EKS: bucket and IAM on moto; the EKS add-on and Pod Identity
calls through a botocore Stubber (moto 5.2.5 answers 404 "Not yet implemented" for them)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from labkit import s3bucket as s3
from labkit import settings
from labkit.eks import errors, names
from labkit.eks.access import EksCluster
from labkit.eks.aws import Clients
from labkit.eks.ledger import Ledger
from labkit.eks.s3csi import S3Csi

from .conftest import FAST, REGION, logs

RUN = "abc123"
BUCKET = "lab-mountpoint-s3-abc123"
ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
ROLE_ARN = f"arn:aws:iam::123456789012:role/{settings.PROJECT}/{names.role(RUN, 's3-csi')}"
CLUSTER = EksCluster("lab", REGION, "https://127.0.0.1:1", "Q0E=", ISSUER, "1.33", f"arn:aws:eks:{REGION}:123456789012:cluster/lab")


def kube(ready: int = 2, nodes: int = 2) -> Any:
    status = SimpleNamespace(desired_number_scheduled=nodes, number_ready=ready, updated_number_scheduled=nodes)
    return SimpleNamespace(
        core=SimpleNamespace(list_node=lambda **kwargs: SimpleNamespace(items=list(range(nodes)))),
        apps=SimpleNamespace(read_namespaced_daemon_set=lambda name, namespace: SimpleNamespace(status=status)),
    )


def oidc_provider() -> None:
    boto3.client("iam", region_name=REGION).create_open_id_connect_provider(Url=ISSUER, ClientIDList=["sts.amazonaws.com"])


def setup(clients: Clients, identity: str = "irsa") -> tuple[S3Csi, list[str]]:
    lines, log = logs()
    csi = S3Csi(clients, s3.make_client(REGION, None), Ledger(), RUN, CLUSTER, BUCKET, identity, FAST, log)
    return csi, lines


def addon(status: str, name: str = names.ADDON, **extra: Any) -> dict[str, Any]:
    return {"addon": {"addonName": name, "clusterName": "lab", "status": status, **extra}}


def not_found(stub: Stubber, operation: str = "describe_addon") -> None:
    stub.add_client_error(operation, service_error_code="ResourceNotFoundException", http_status_code=404)


DRIVER_VERSION = "v1.14.1-eksbuild.1"


def compatible(*listed: tuple[str, bool]) -> dict[str, Any]:
    """DescribeAddonVersions for the driver: (version, marked default for 1.33)."""
    versions = [{"addonVersion": v, "compatibilities": [{"clusterVersion": "1.33", "defaultVersion": d}]} for v, d in listed]
    return {"addons": [{"addonName": names.ADDON, "addonVersions": versions}]}


def addon_versions(stub: Stubber, answer: dict[str, Any] | None = None) -> None:
    """EKS asked for the driver's versions compatible with the cluster's Kubernetes (1.33)."""
    answer = answer or compatible(("v1.15.0-eksbuild.1", False), (DRIVER_VERSION, True))
    stub.add_response("describe_addon_versions", answer, {"addonName": names.ADDON, "kubernetesVersion": "1.33"})


def test_irsa_set_up_and_teardown_in_the_labs_order(clients: Clients, eks_stub: Stubber) -> None:
    oidc_provider()
    csi, lines = setup(clients)
    not_found(eks_stub)
    addon_versions(eks_stub)
    eks_stub.add_response(
        "create_addon",
        addon("CREATING"),
        {
            "clusterName": "lab",
            "addonName": names.ADDON,
            "addonVersion": DRIVER_VERSION,
            "resolveConflicts": "OVERWRITE",
            "serviceAccountRoleArn": ROLE_ARN,
            "tags": ANY,
        },
    )
    eks_stub.add_response("describe_addon", addon("CREATING"))
    eks_stub.add_response("describe_addon", addon("ACTIVE"))
    csi.create(kube())

    assert [e.kind for e in csi.ledger.entries] == ["s3-bucket", "iam-role", "eks-addon"]
    iam, s3c = clients.iam, csi.s3_client
    role: Any = iam.get_role(RoleName=names.role(RUN, "s3-csi"))["Role"]
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    host = ISSUER.removeprefix("https://")
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{host}"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        f"{host}:sub": "system:serviceaccount:kube-system:s3-csi-driver-sa",
        f"{host}:aud": "sts.amazonaws.com",
    }
    doc = iam.get_role_policy(RoleName=names.role(RUN, "s3-csi"), PolicyName="mountpoint-s3")["PolicyDocument"]
    policy = doc if isinstance(doc, dict) else json.loads(doc)
    scoped = {tuple(s["Resource"]): sorted(s["Action"]) for s in policy["Statement"]}
    assert scoped == {
        (f"arn:aws:s3:::{BUCKET}",): ["s3:ListBucket"],
        (f"arn:aws:s3:::{BUCKET}/*",): sorted(["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"]),
    }
    block = s3c.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert len(block) == 4
    assert {t["Key"]: t["Value"] for t in s3c.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}[settings.LABEL_RUN] == RUN
    assert sorted(o["Key"] for o in s3c.list_objects_v2(Bucket=BUCKET)["Contents"]) == sorted(
        ["chrono_classic.jpg", "gentleman.jpg", "pocket_watch.jpg", "smart_2.jpg", "wood_watch.jpg"]
    )
    assert any("daemonset kube-system/s3-csi-node ready on 2 node(s)" in line for line in lines)

    # Teardown: add-on (and wait until gone), role, bucket.
    eks_stub.add_response("delete_addon", addon("DELETING"), {"clusterName": "lab", "addonName": names.ADDON})
    not_found(eks_stub)
    del lines[:]
    assert csi.ledger.undo(csi.deleters(), csi.log) == []
    assert [line.split()[2] for line in lines if line.startswith("eks: deleted")] == ["eks-addon", "iam-role", "s3-bucket"]
    assert iam.list_roles(PathPrefix=f"/{settings.PROJECT}/")["Roles"] == []
    assert BUCKET not in [b["Name"] for b in s3c.list_buckets()["Buckets"]]


def test_pod_identity_trusts_eks_pods_and_associates_the_service_account(clients: Clients, eks_stub: Stubber) -> None:
    csi, _ = setup(clients, "pod-identity")
    eks_stub.add_response("describe_addon", addon("ACTIVE", names.POD_IDENTITY_AGENT))  # already there
    eks_stub.add_response("describe_addon", addon("ACTIVE", names.POD_IDENTITY_AGENT))
    eks_stub.add_response(
        "create_pod_identity_association",
        {"association": {"associationId": "a-1234567890abcdef0"}},
        {
            "clusterName": "lab",
            "namespace": "kube-system",
            "serviceAccount": "s3-csi-driver-sa",
            "roleArn": ROLE_ARN,
            "tags": ANY,
        },
    )
    not_found(eks_stub)
    addon_versions(eks_stub)
    eks_stub.add_response(
        "create_addon",
        addon("CREATING"),
        {"clusterName": "lab", "addonName": names.ADDON, "addonVersion": DRIVER_VERSION, "resolveConflicts": "OVERWRITE", "tags": ANY},
    )
    eks_stub.add_response("describe_addon", addon("ACTIVE"))
    csi.create(kube())
    role: Any = clients.iam.get_role(RoleName=names.role(RUN, "s3-csi"))["Role"]
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    # The agent add-on was there already: used, not recorded, so never deleted.
    assert [(e.kind, e.id) for e in csi.ledger.entries] == [
        ("s3-bucket", BUCKET),
        ("iam-role", ROLE_ARN),
        ("pod-identity-association", "a-1234567890abcdef0"),
        ("eks-addon", names.ADDON),
    ]


def test_irsa_without_an_oidc_provider_names_the_fix(clients: Clients) -> None:
    csi, _ = setup(clients)
    with pytest.raises(errors.EksError) as caught:
        csi.create(kube())
    text = str(caught.value)
    assert f"cluster lab has no IAM OIDC provider for its issuer {ISSUER}" in text
    assert "--eks-identity pod-identity" in text
    assert [e.kind for e in csi.ledger.entries] == ["s3-bucket"], "the bucket made so far is still deleted at teardown"


@pytest.mark.parametrize("status", ["CREATE_FAILED", "DEGRADED"])
def test_a_failed_addon_fails_fast_with_its_health_issues(clients: Clients, eks_stub: Stubber, status: str) -> None:
    oidc_provider()
    csi, _ = setup(clients)
    not_found(eks_stub)
    addon_versions(eks_stub)
    eks_stub.add_response("create_addon", addon("CREATING"))
    issue = {"code": "AccessDenied", "message": "role cannot be assumed by s3-csi-driver-sa", "resourceIds": ["x"]}
    eks_stub.add_response("describe_addon", addon(status, health={"issues": [issue]}))
    with pytest.raises(errors.EksError) as caught:
        csi.create(kube())
    assert str(caught.value).startswith(
        f"add-on aws-mountpoint-s3-csi-driver on cluster lab is {status}: AccessDenied: role cannot be assumed"
    )
    assert csi.ledger.entries[-1].kind == "eks-addon", "a failed add-on is still deleted at teardown"


def test_an_existing_addon_is_used_and_never_deleted(clients: Clients, eks_stub: Stubber) -> None:
    oidc_provider()
    csi, lines = setup(clients)
    eks_stub.add_response("describe_addon", addon("ACTIVE"))
    eks_stub.add_response("describe_addon", addon("ACTIVE"))
    csi.create(kube())
    assert "eks-addon" not in [e.kind for e in csi.ledger.entries]
    assert any("already on lab" in line and f"its role must allow bucket {BUCKET}" in line for line in lines)


def test_a_taken_bucket_name_names_the_option_and_is_not_ours_to_delete(clients: Clients) -> None:
    client: Any = s3.make_client(REGION, None)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    csi, _ = setup(clients)
    with pytest.raises(errors.EksError, match=r"BucketAlreadyOwnedByYou: that bucket name is taken: use another --s3-bucket-prefix"):
        csi.create(kube())
    assert csi.ledger.entries == []


def test_a_daemonset_not_ready_on_every_node_times_out_with_the_counts(clients: Clients, eks_stub: Stubber) -> None:
    oidc_provider()
    csi, _ = setup(clients)
    eks_stub.add_response("describe_addon", addon("ACTIVE"))
    eks_stub.add_response("describe_addon", addon("ACTIVE"))
    with pytest.raises(errors.EksError, match=r"daemonset kube-system/s3-csi-node: 1 ready, 2 up to date, 2 scheduled, 2 nodes"):
        csi.create(kube(ready=1))


NOT_YET = f"Role with arn: {ROLE_ARN}, could not be assumed because it does not exist or the trusted entity is not correct"


def test_create_addon_retries_an_irsa_role_eks_cannot_see_yet(clients: Clients, eks_stub: Stubber) -> None:
    csi, _ = setup(clients)
    not_found(eks_stub)
    addon_versions(eks_stub)
    eks_stub.add_client_error("create_addon", service_error_code="InvalidParameterException", service_message=NOT_YET, http_status_code=400)
    eks_stub.add_response("create_addon", addon("CREATING"))
    eks_stub.add_response("describe_addon", addon("ACTIVE"))
    csi.ensure_addon(names.ADDON, ROLE_ARN)
    assert [e.kind for e in csi.ledger.entries] == ["eks-addon"]


def test_pod_identity_association_retries_a_role_eks_cannot_see_yet(clients: Clients, eks_stub: Stubber) -> None:
    csi, _ = setup(clients, "pod-identity")
    csi.role_arn = ROLE_ARN
    eks_stub.add_client_error(
        "create_pod_identity_association", service_error_code="InvalidParameterException", service_message=NOT_YET, http_status_code=400
    )
    eks_stub.add_response("create_pod_identity_association", {"association": {"associationId": "a-1"}})
    csi.associate_pod_identity()
    assert [(e.kind, e.id) for e in csi.ledger.entries] == [("pod-identity-association", "a-1")]


def test_an_addon_without_a_role_is_not_waited_for(clients: Clients, eks_stub: Stubber) -> None:
    csi, _ = setup(clients, "pod-identity")
    not_found(eks_stub)
    eks_stub.add_client_error("create_addon", service_error_code="InvalidParameterException", service_message="Addon x does not exist")
    with pytest.raises(errors.EksError, match=r"^create add-on eks-pod-identity-agent on lab: InvalidParameterException: Addon x"):
        csi.ensure_addon(names.POD_IDENTITY_AGENT, role_arn=None)


def test_a_daemonset_read_that_is_refused_stops_the_wait_at_once(clients: Clients) -> None:
    """Only 404 (the add-on has not made it yet) is waited out; a 403 is raised as it is."""
    from kubernetes.client.exceptions import ApiException

    csi, _ = setup(clients)

    def refused(name: str, namespace: str) -> None:
        raise ApiException(status=403, reason="Forbidden")

    cluster = SimpleNamespace(
        core=SimpleNamespace(list_node=lambda: SimpleNamespace(items=[1])), apps=SimpleNamespace(read_namespaced_daemon_set=refused)
    )
    with pytest.raises(ApiException, match="Forbidden"):
        csi.wait_daemonset(cluster)  # type: ignore[arg-type]
