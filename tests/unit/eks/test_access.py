"""Reading an EKS cluster, writing the suite's own kubeconfig, token refresh through it, and a refused API."""

from __future__ import annotations

import base64
import datetime
import time
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

from labkit.eks import access, errors
from labkit.eks.aws import Clients
from labkit.target import ClusterTarget

from .conftest import REGION

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()


def make_cluster(name: str = "lab") -> None:
    boto3.client("eks", region_name=REGION).create_cluster(
        name=name, roleArn="arn:aws:iam::123456789012:role/r", resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]}
    )


def test_describe_reads_endpoint_ca_and_issuer(clients: Clients) -> None:
    make_cluster()
    cluster = access.describe(clients, "lab")
    assert cluster.endpoint.startswith("https://")
    assert cluster.region == REGION
    assert cluster.ca_data
    assert cluster.oidc_issuer
    assert cluster.oidc_issuer.startswith("https://oidc.eks.eu-west-1.amazonaws.com/id/")


def test_a_missing_cluster_names_the_options_to_fix(clients: Clients) -> None:
    with pytest.raises(
        errors.EksError, match=r"no EKS cluster 'nope' in eu-west-1: check --eks-cluster and --region, or pass --eks-create"
    ):
        access.describe(clients, "nope")


def fake(name: str = "lab") -> access.EksCluster:
    return access.EksCluster(name, REGION, "https://127.0.0.1:1", CA, None, "1.33", f"arn:aws:eks:{REGION}:123456789012:cluster/{name}")


def test_kubeconfig_is_the_suites_own_file_with_an_exec_token_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_config = tmp_path / "user-kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(user_config))
    path = access.write_kubeconfig(fake(), tmp_path / "run")
    assert path.parent == tmp_path / "run"
    assert not user_config.exists()
    assert path.stat().st_mode & 0o077 == 0
    doc = yaml.safe_load(path.read_text())
    assert doc["current-context"] == "eks-lab"
    assert doc["clusters"][0]["cluster"] == {"server": "https://127.0.0.1:1", "certificate-authority-data": CA}
    exec_ = doc["users"][0]["user"]["exec"]
    assert exec_["args"] == ["-m", "labkit.eks.token", "--cluster", "lab", "--region", REGION]
    assert "token" not in doc["users"][0]["user"], "no token is stored on disk"
    # What the core builds from it.
    target = ClusterTarget("eks", path, "eks-lab")
    _contexts, active = kube_config.list_kube_config_contexts(str(target.kubeconfig))
    assert active["name"] == target.context


def test_the_kubernetes_client_gets_a_token_and_refreshes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real mechanism the core's kube client relies on: the exec plugin runs in a subprocess."""
    path = access.write_kubeconfig(fake(), tmp_path)
    api = kube_config.new_client_from_config(config_file=str(path), context="eks-lab")
    cfg = api.configuration
    first = cfg.get_api_key_with_prefix("BearerToken")
    assert first.startswith("Bearer k8s-aws-v1.")
    assert cfg.get_api_key_with_prefix("BearerToken") == first, "no refresh while the token is fresh"
    # 14 min reported validity minus the client's 5 min skew: past 9 minutes it re-runs the plugin.
    monkeypatch.setattr("kubernetes.config.kube_config.EXPIRY_SKEW_PREVENTION_DELAY", datetime.timedelta(minutes=15))
    time.sleep(1.1)  # X-Amz-Date has 1 s resolution
    second = cfg.get_api_key_with_prefix("BearerToken")
    assert second.startswith("Bearer k8s-aws-v1.")
    assert second != first


class Refusing:
    """A cluster API that answers every request with `status`."""

    def __init__(self, status: int) -> None:
        def refuse(**kwargs: object) -> None:
            raise ApiException(status=status, reason="Unauthorized" if status == 401 else "Forbidden")

        self.core = SimpleNamespace(list_node=refuse)


def test_a_401_names_the_principal_and_the_access_entry_it_lacks(clients: Clients, sts_stub: Stubber) -> None:
    sts_stub.add_response(
        "get_caller_identity",
        {"UserId": "AROAEXAMPLE:nightly", "Account": "123456789012", "Arn": "arn:aws:sts::123456789012:assumed-role/ci/nightly"},
    )
    with pytest.raises(errors.EksError) as caught:
        access.check_api(Refusing(401), fake(), clients)  # type: ignore[arg-type]
    where = "--cluster-name lab --region eu-west-1 --principal-arn arn:aws:iam::123456789012:role/ci"
    assert str(caught.value) == (
        "the Kubernetes API of EKS cluster lab answered HTTP 401 to arn:aws:sts::123456789012:assumed-role/ci/nightly: "
        f"it has no EKS access entry (or no access policy) there; fix: aws eks create-access-entry {where} && "
        f"aws eks associate-access-policy {where} --policy-arn arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy "
        "--access-scope type=cluster (or create the cluster with bootstrapClusterCreatorAdminPermissions, as --eks-create does)"
    )


def test_a_403_from_a_user_names_that_user_and_other_errors_stay_as_they_are(clients: Clients) -> None:
    with pytest.raises(errors.EksError, match=r"answered HTTP 403 to arn:aws:sts::123456789012:user/moto: it has no EKS access entry"):
        access.check_api(Refusing(403), fake(), clients)  # type: ignore[arg-type]
    with pytest.raises(ApiException):
        access.check_api(Refusing(500), fake(), clients)  # type: ignore[arg-type]


def test_the_access_entry_hint_keeps_the_roles_iam_path(clients: Clients, sts_stub: Stubber) -> None:
    """The session's ARN drops the role's path; an access entry takes the role's ARN with it."""
    clients.iam.create_role(RoleName="ci", Path="/teams/lab/", AssumeRolePolicyDocument="{}")
    sts_stub.add_response(
        "get_caller_identity",
        {"UserId": "AROAEXAMPLE:nightly", "Account": "123456789012", "Arn": "arn:aws:sts::123456789012:assumed-role/ci/nightly"},
    )
    assert access.principal(clients) == (
        "arn:aws:sts::123456789012:assumed-role/ci/nightly",
        "arn:aws:iam::123456789012:role/teams/lab/ci",
    )
