"""A whole `--cluster eks --eks-create` session on moto: up, then down in the lab's order.

moto runs IAM, EC2, S3 and the EKS cluster and node group; the add-on and version calls go
to a Stubber (moto 5.2.5 has neither), through a client that routes by operation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.stub import ANY, Stubber

from labkit import settings
from labkit.eks import errors, names, tags
from labkit.eks.aws import Clients
from labkit.eks.session import EksOptions, EksSession

from .conftest import FAST, REGION, logs
from .test_access import Refusing
from .test_s3csi import kube

RUN = "sess01"
STUBBED = {
    "create_addon",
    "describe_addon",
    "delete_addon",
    "create_pod_identity_association",
    "delete_pod_identity_association",
    "describe_cluster_versions",
    "describe_addon_versions",
}
VERSIONS = {
    "clusterVersions": [
        {"clusterVersion": "1.32", "versionStatus": "STANDARD_SUPPORT"},
        {"clusterVersion": "1.33", "versionStatus": "STANDARD_SUPPORT", "defaultVersion": True},
        {"clusterVersion": "1.34", "versionStatus": "STANDARD_SUPPORT"},
    ]
}
ADDON_VERSIONS = {
    "addons": [
        {
            "addonName": names.ADDON,
            "addonVersions": [
                {"addonVersion": "v1.15.0-eksbuild.1", "compatibilities": [{"clusterVersion": "1.34", "defaultVersion": True}]},
            ],
        }
    ]
}


class SplitEks:
    """moto's EKS for clusters and node groups, a stubbed client for add-ons."""

    def __init__(self, moto: Any, stubbed: Any) -> None:
        self.moto, self.stubbed = moto, stubbed
        self.exceptions = moto.exceptions

    def get_waiter(self, name: str) -> Any:
        return (self.stubbed if name.startswith("addon") else self.moto).get_waiter(name)

    def get_paginator(self, name: str) -> Any:
        return (self.stubbed if name in STUBBED else self.moto).get_paginator(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stubbed if name in STUBBED else self.moto, name)


def options(tmp_path: Path, **changes: Any) -> EksOptions:
    cluster = names.default_cluster(RUN)
    values: dict[str, Any] = {
        "cluster": cluster,
        "region": REGION,
        "create": True,
        "subnets": (),
        "identity": "irsa",
        "plan": False,
        "kubernetes_version": None,
        "bucket_prefix": names.bucket_prefix(cluster),
        "run_id": RUN,
        "keep_cluster": False,
        "keep_namespaces": False,
        "ledger_dir": tmp_path / "reports",
    }
    values.update(changes)
    return EksOptions(**values)


@pytest.fixture
def split(clients: Clients, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    # Same session as the moto client, so both raise the same exception classes.
    stubbed = clients.session.client("eks", region_name=REGION)
    split = SplitEks(clients.eks, stubbed)
    clients.__dict__["eks"] = split
    with Stubber(stubbed) as stub:
        stub.add_response("describe_cluster_versions", VERSIONS, {})
        stub.add_response("describe_addon_versions", ADDON_VERSIONS, {"addonName": names.ADDON})  # which versions the driver suits
        stub.add_client_error("describe_addon", service_error_code="ResourceNotFoundException", http_status_code=404)
        stub.add_response("describe_addon_versions", ADDON_VERSIONS, {"addonName": names.ADDON, "kubernetesVersion": "1.34"})
        stub.add_response("create_addon", {"addon": {"addonName": names.ADDON, "status": "CREATING"}}, {**ANY_ADDON})
        stub.add_response("describe_addon", {"addon": {"addonName": names.ADDON, "status": "ACTIVE"}})
        yield stub


ANY_ADDON = {
    "clusterName": ANY,
    "addonName": names.ADDON,
    "addonVersion": "v1.15.0-eksbuild.1",
    "resolveConflicts": "OVERWRITE",
    "serviceAccountRoleArn": ANY,
    "tags": ANY,
}


def test_up_then_down_creates_and_deletes_everything_in_order(clients: Clients, split: Stubber, tmp_path: Path) -> None:
    lines, log = logs()
    session = EksSession(
        options(tmp_path), settings.Timeouts(), tmp_path / "work", clients, FAST, connect=lambda path, ctx: kube(), log=log
    )
    target = session.up(s3_needed=True)

    assert (target.mode, target.context) == ("eks", f"eks-{names.default_cluster(RUN)}")
    assert clients.eks.describe_cluster(name=names.default_cluster(RUN))["cluster"]["version"] == "1.34", "the newest EKS offers"
    doc = yaml.safe_load(target.kubeconfig.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == clients.eks.describe_cluster(name=names.default_cluster(RUN))["cluster"]["endpoint"]
    assert session.bucket is not None
    assert session.bucket.name == f"{names.default_cluster(RUN)}-mountpoint-s3-{RUN}"
    # The S3 CSI role trusts the OIDC provider the run created for the new cluster.
    provider = clients.iam.list_open_id_connect_providers()["OpenIDConnectProviderList"][0]["Arn"]
    role: Any = clients.iam.get_role(RoleName=names.role(RUN, "s3-csi"))["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Federated": provider}
    assert (tmp_path / "reports" / f"eks-ledger-{RUN}-cluster.json").is_file()

    split.add_response("delete_addon", {"addon": {"addonName": names.ADDON, "status": "DELETING"}})
    split.add_client_error("describe_addon", service_error_code="ResourceNotFoundException", http_status_code=404)
    del lines[:]
    assert session.down() == []
    deleted = [line.split()[2] for line in lines if line.startswith("eks: deleted")]
    assert deleted[:3] == ["eks-addon", "iam-role", "s3-bucket"], "the lab's clean-up order"
    assert deleted[3:6] == ["eks-nodegroup", "oidc-provider", "eks-cluster"]
    assert deleted[-2:] == ["iam-role", "iam-role"]
    assert clients.iam.list_roles(PathPrefix=tags.IAM_PATH)["Roles"] == []
    assert clients.eks.list_clusters()["clusters"] == []
    assert session.s3csi_ledger.entries == session.cluster_ledger.entries == []


def test_keep_cluster_keeps_the_cluster_but_not_the_s3_resources(clients: Clients, split: Stubber, tmp_path: Path) -> None:
    session = EksSession(options(tmp_path, keep_cluster=True), settings.Timeouts(), tmp_path, clients, FAST, lambda p, c: kube(), logs()[1])
    session.up(s3_needed=True)
    split.add_response("delete_addon", {"addon": {"addonName": names.ADDON, "status": "DELETING"}})
    split.add_client_error("describe_addon", service_error_code="ResourceNotFoundException", http_status_code=404)
    assert session.down() == []
    assert clients.eks.list_clusters()["clusters"] == [names.default_cluster(RUN)]
    assert sorted(r["RoleName"] for r in clients.iam.list_roles(PathPrefix=tags.IAM_PATH)["Roles"]) == sorted(
        [names.role(RUN, "cluster"), names.role(RUN, "node")]
    )


def test_a_failure_half_way_still_deletes_what_was_made(clients: Clients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    given = options(tmp_path, kubernetes_version="1.33")  # given: EKS is not asked
    session = EksSession(given, settings.Timeouts(), tmp_path, clients, FAST, lambda p, c: kube(), logs()[1])

    def no_nodes(*args: Any) -> None:
        raise RuntimeError("node group failed")

    monkeypatch.setattr(session.provisioner, "_nodegroup", no_nodes)
    with pytest.raises(RuntimeError, match="node group failed"):
        session.up(s3_needed=False)
    assert session.down() == []
    assert clients.eks.list_clusters()["clusters"] == []
    assert clients.iam.list_roles(PathPrefix=tags.IAM_PATH)["Roles"] == []
    assert clients.ec2.describe_vpcs(Filters=[{"Name": f"tag:{settings.LABEL_RUN}", "Values": [RUN]}])["Vpcs"] == []


def test_a_refused_api_stops_the_run_naming_the_access_entry(clients: Clients, tmp_path: Path) -> None:
    """The session's first request to the API (even with no S3 test) turns a 403 into the access-entry fix."""
    clients.eks.create_cluster(name="theirs", roleArn="arn:aws:iam::123456789012:role/r", resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    given = options(tmp_path, cluster="theirs", create=False)
    refusing: Any = Refusing(403)
    session = EksSession(given, settings.Timeouts(), tmp_path, clients, FAST, lambda p, c: refusing, logs()[1])
    with pytest.raises(
        errors.EksError, match=r"^the Kubernetes API of EKS cluster theirs answered HTTP 403 to arn:aws:sts::123456789012:user/moto"
    ):
        session.up(s3_needed=False)
