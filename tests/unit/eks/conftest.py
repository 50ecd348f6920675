"""Shared set-up for the EKS unit tests: fake credentials, moto in-process, fast waits.

No test here sends traffic anywhere: AWS calls go to moto's in-process mocks, or to a
botocore Stubber where moto has no implementation (EKS add-ons, Pod Identity).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.stub import Stubber
from moto import mock_aws

import labkit
from labkit.eks import policy
from labkit.eks.aws import Clients
from labkit.eks.provision import EksTimeouts

REGION = "eu-west-1"
FAST = EksTimeouts(
    cluster_active=5,
    cluster_deleted=5,
    nodegroup_active=5,
    nodegroup_deleted=5,
    addon_active=2,
    addon_deleted=2,
    daemonset_ready=0.3,
    dependency_wait=0.2,
    iam_propagation=1,
    poll=0,
)


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTEST1234")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance metadata service


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def clients(aws: None) -> Clients:
    return Clients(REGION)


def stubbed(clients: Clients, service: str) -> Iterator[Stubber]:
    """A real client for `service`, put into `clients`, whose answers the test scripts."""
    session: Any = boto3.session.Session(region_name=REGION)
    client: Any = session.client(service, region_name=REGION)
    clients.__dict__[service] = client
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def eks_stub(clients: Clients) -> Iterator[Stubber]:
    """EKS scripted: moto lacks add-ons, Pod Identity and versions, and accepts any argument."""
    yield from stubbed(clients, "eks")


@pytest.fixture
def ec2_stub(clients: Clients) -> Iterator[Stubber]:
    """EC2 scripted: the answers moto never gives (already gone, DependencyViolation)."""
    yield from stubbed(clients, "ec2")


@pytest.fixture
def sts_stub(clients: Clients) -> Iterator[Stubber]:
    yield from stubbed(clients, "sts")


def logs() -> tuple[list[str], Any]:
    lines: list[str] = []
    return lines, lines.append


# --- every AWS operation the suite's own code makes must be in the nightly's policy -------------

POLICY = policy.FILE
LABKIT = str(Path(labkit.__file__).parent)


def _from_labkit() -> bool:
    """Whether the suite's own code (not a test's set-up) makes the call being made."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(LABKIT):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


@pytest.fixture(autouse=True)
def within_the_nightly_policy(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Records the AWS operations the suite's code makes in the test (moto-backed, stubbed or
    refused alike: each is a real request shape); after it, each must be allowed by the policy
    the README points the nightly's role to, or the test fails naming what is missing."""
    made: set[str] = set()
    real: Any = BaseClient.__dict__["_make_api_call"]  # botocore has no public hook with the calling frame

    def record(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if _from_labkit():
            made.add(policy.action(client.meta.service_model.service_name, operation))
        return real(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    yield made
    missing = policy.not_allowed(made)
    assert not missing, f"{POLICY.name} does not allow what the suite calls: {', '.join(missing)}"
