"""The EKS bearer token: the format the API server's authenticator accepts, the AWS CLI's own, and its refresh."""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.signers import RequestSigner

from labkit import redact
from labkit.eks import token

CREDS = Credentials("AKIATESTTESTTEST1234", "testing-secret-testing-secret")


def decode(value: str) -> str:
    assert value.startswith("k8s-aws-v1.")
    body = value.removeprefix("k8s-aws-v1.")
    assert "=" not in body, "the token is unpadded base64url"
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def test_token_is_a_presigned_get_caller_identity_url_for_the_cluster() -> None:
    url = urlsplit(decode(token.make("lab-cluster", "eu-west-1", CREDS)))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.scheme == "https"
    assert url.netloc == "sts.eu-west-1.amazonaws.com"
    assert query["Action"] == "GetCallerIdentity"
    assert query["Version"] == "2011-06-15"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert set(query["X-Amz-SignedHeaders"].split(";")) == {"host", "x-k8s-aws-id"}
    assert query["X-Amz-Credential"].startswith("AKIATESTTESTTEST1234/")
    assert query["X-Amz-Credential"].endswith("/eu-west-1/sts/aws4_request")
    assert len(query["X-Amz-Signature"]) == 64
    assert "X-Amz-Security-Token" not in query


def test_the_cluster_name_is_signed_so_tokens_differ_per_cluster() -> None:
    one = parse_qs(urlsplit(decode(token.make("a", "eu-west-1", CREDS))).query)["X-Amz-Signature"]
    two = parse_qs(urlsplit(decode(token.make("b", "eu-west-1", CREDS))).query)["X-Amz-Signature"]
    assert one != two


def test_session_credentials_carry_their_token_and_china_regions_their_domain() -> None:
    session = Credentials("AKIATESTTESTTEST1234", "secret-secret", token="session-token-value")
    url = urlsplit(decode(token.make("c", "cn-north-1", session)))
    assert url.netloc == "sts.cn-north-1.amazonaws.com.cn"
    assert parse_qs(url.query)["X-Amz-Security-Token"] == ["session-token-value"]


def test_tokens_are_masked_in_any_text() -> None:
    value = token.make("lab", "eu-west-1", CREDS)
    assert value not in redact.text(f"Authorization: Bearer {value}")


def test_cache_remakes_the_token_after_ten_minutes_only() -> None:
    now = [1_000_000.0]
    calls: list[int] = []

    def creds() -> Credentials:
        calls.append(1)
        return CREDS

    cache = token.TokenCache("lab", "eu-west-1", creds, clock=lambda: now[0])
    first = cache.get()
    now[0] += 9 * 60 + 59
    assert cache.get() == first
    assert len(calls) == 1
    now[0] += 1
    cache.get()
    assert len(calls) == 2, "the token is remade (and credentials re-read) at 10 minutes"
    assert cache.expires_at().timestamp() == now[0] + 14 * 60


def test_exec_credential_reports_expiry_before_the_token_lapses(capsys: pytest.CaptureFixture[str]) -> None:
    assert token.main(["--cluster", "lab", "--region", "eu-west-1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "ExecCredential"
    assert out["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert out["status"]["token"].startswith("k8s-aws-v1.")
    assert out["status"]["expirationTimestamp"].endswith("Z")


def test_exec_plugin_without_credentials_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setattr("labkit.eks.token.boto3.session.Session.get_credentials", lambda self: None)
    assert token.main(["--cluster", "lab", "--region", "eu-west-1"]) == 1
    assert "no AWS credentials" in capsys.readouterr().err


def aws_cli_token(cluster: str, region: str, creds: Credentials) -> str:
    """awscli/customizations/eks/get_token.py, reproduced: an STS client presigns GetCallerIdentity
    (its RequestSigner, GET, 60 s) with `x-k8s-aws-id: <cluster>` injected before signing; the URL
    is base64url-encoded without padding behind `k8s-aws-v1.`."""
    sts: Any = botocore.session.get_session().create_client(
        "sts", region_name=region, aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key, aws_session_token=creds.token
    )
    assert isinstance(sts._request_signer, RequestSigner)

    def retrieve(params: dict[str, str], context: dict[str, str], **kwargs: object) -> None:
        if "x-k8s-aws-id" in params:
            context["x-k8s-aws-id"] = params.pop("x-k8s-aws-id")

    def inject(request: AWSRequest, **kwargs: object) -> None:
        if "x-k8s-aws-id" in request.context:
            request.headers["x-k8s-aws-id"] = request.context["x-k8s-aws-id"]

    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", retrieve)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", inject)
    url = sts.generate_presigned_url("get_caller_identity", Params={"x-k8s-aws-id": cluster}, ExpiresIn=60, HttpMethod="GET")
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode("utf-8")).decode("utf-8").rstrip("=")


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "cn-north-1"])
@pytest.mark.parametrize(
    "creds", [CREDS, Credentials("ASIATESTTESTTEST1234", "secret-secret", token="session-token")], ids=["keys", "session"]
)
def test_the_token_is_the_one_the_aws_cli_makes_at_the_same_instant(
    monkeypatch: pytest.MonkeyPatch, region: str, creds: Credentials
) -> None:
    frozen = datetime.datetime(2026, 11, 25, 12, 0, 0)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *args, **kwargs: frozen)  # the clock SigV4 reads
    ours = token.make("lab-cluster", region, creds)
    assert "X-Amz-Date=20261125T120000Z" in decode(ours)
    assert ours == aws_cli_token("lab-cluster", region, creds)
