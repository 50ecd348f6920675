"""AWS errors as one line naming the fix; throttling retried with backoff, nothing else retried."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from labkit.eks import errors

from .conftest import REGION


def client_error(code: str, message: str = "", operation: str = "CreateAddon") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize("code", ["AccessDenied", "AccessDeniedException"])
def test_access_denied_names_the_missing_action(code: str) -> None:
    err = client_error(code, "User: arn:aws:sts::1:assumed-role/ci/x is not authorized to perform: eks:CreateAddon on resource: arn:...")
    assert errors.explain(err, "create add-on") == (
        f"create add-on: {code}: the AWS identity lacks eks:CreateAddon; grant it to the role the run uses (nightly: secrets.AWS_ROLE_ARN)"
    )


def test_access_denied_without_an_action_in_the_message_names_the_operation() -> None:
    assert "lacks the permission for CreateAddon" in errors.explain(client_error("AccessDenied", "Access Denied"), "x")


@pytest.mark.parametrize("code", ["BucketAlreadyExists", "BucketAlreadyOwnedByYou"])
def test_a_taken_bucket_name_points_at_the_prefix_option(code: str) -> None:
    assert errors.explain(client_error(code, operation="CreateBucket"), "create bucket b").endswith(
        "use another --s3-bucket-prefix (or another --run-id)"
    )


def test_addon_failure_lists_every_health_issue_on_one_line() -> None:
    text = errors.addon_failed(
        "a",
        "c",
        "CREATE_FAILED",
        [{"code": "ConfigurationConflict", "message": "x"}, {"code": "InsufficientNumberOfReplicas", "message": "y"}],
    )
    assert "ConfigurationConflict: x; InsufficientNumberOfReplicas: y" in text
    assert "\n" not in text


@pytest.mark.parametrize("code", ["Throttling", "ThrottlingException", "TooManyRequestsException"])
def test_throttling_is_retried_until_the_call_succeeds(code: str) -> None:
    client: Any = boto3.client("eks", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("list_clusters", service_error_code=code, http_status_code=429)
        stub.add_client_error("list_clusters", service_error_code=code, http_status_code=429)
        stub.add_response("list_clusters", {"clusters": ["lab"]})
        result = errors.call("list clusters", client.list_clusters, attempts=5, max_wait=0)
        stub.assert_no_pending_responses()
    assert result["clusters"] == ["lab"]


def test_throttling_that_never_ends_gives_up_with_a_message() -> None:
    calls: list[int] = []

    def always() -> None:
        calls.append(1)
        raise client_error("ThrottlingException", "Rate exceeded")

    with pytest.raises(errors.EksError, match=r"ThrottlingException \(still throttled after retries with backoff\)"):
        errors.call("x", always, attempts=3, max_wait=0)
    assert len(calls) == 3


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def denied() -> None:
        calls.append(1)
        raise client_error("AccessDenied")

    with pytest.raises(errors.EksError):
        errors.call("x", denied, attempts=5, max_wait=0)
    assert calls == [1]


def test_clients_use_botocore_adaptive_retries_for_throttling() -> None:
    client: Any = boto3.client("eks", region_name=REGION, config=errors.CLIENT_CONFIG)
    assert client.meta.config.retries["mode"] == "adaptive"
    assert client.meta.config.retries["total_max_attempts"] == 9  # max_attempts 8 retries + the first call
