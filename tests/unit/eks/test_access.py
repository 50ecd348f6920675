"""Reading an EKS cluster and writing the suite's own kubeconfig, and token refresh through it."""

from __future__ import annotations

import base64
import datetime
import time
from pathlib import Path

import boto3
import pytest
import yaml
from kubernetes import config as kube_config

from fixtures.cluster import ClusterTarget
from fixtures.eks import access, errors
from fixtures.eks.aws import Clients

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
    assert exec_["args"] == ["-m", "fixtures.eks.token", "--cluster", "lab", "--region", REGION]
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
