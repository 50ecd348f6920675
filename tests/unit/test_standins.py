"""Stand-ins for the workshop's environment: a page's `aws s3` runs (the real AWS CLI, pointed
at the run's S3 server by the replay's environment); every other cloud command stays out."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labkit import replay, standins


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("aws s3 ls $BUCKET_NAME", None),
        ("aws s3 cp --recursive ~/x/ s3://$BUCKET_NAME/", None),
        ("aws s3api head-bucket --bucket $BUCKET_NAME", None),
        ("aws eks create-addon --cluster-name $EKS_CLUSTER_NAME --addon-name x", "not run: it acts on the workshop's AWS account (aws)"),
        ("aws s3 ls && aws iam list-roles", "not run: it acts on the workshop's AWS account (aws)"),
        ("eksctl get cluster", "not run: it acts on the workshop's AWS account (eksctl)"),
    ],
)
def test_only_what_has_a_stand_in_runs(command: str, reason: str | None, tmp_path: Path) -> None:
    path = f"{standins.aws_shim(tmp_path / 'bin')}:/usr/bin:/bin"
    assert replay.why_not_run(command, path, standins.AWS_S3) == reason


def test_without_the_stand_in_aws_s3_is_not_run() -> None:
    assert replay.why_not_run("aws s3 ls $BUCKET_NAME", "/usr/bin:/bin") == "not run: it acts on the workshop's AWS account (aws)"


def test_the_shim_is_the_aws_cli_for_s3_and_refuses_the_rest(tmp_path: Path) -> None:
    aws = standins.aws_shim(tmp_path / "bin") / "aws"
    refused = subprocess.run([str(aws), "eks", "list-clusters"], capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "aws eks: the suite stands in only for aws s3, aws s3api"
    version = subprocess.run([str(aws), "--version"], capture_output=True, text=True, check=False)
    assert (version.stdout + version.stderr).startswith("aws-cli/1."), "the real AWS CLI, from the suite's Python"


def test_a_command_served_by_a_stand_in_names_it() -> None:
    assert standins.served("aws s3 ls $BUCKET_NAME", standins.AWS_S3) == [f"aws s3: {standins.AWS_S3['aws s3']}"]
    assert standins.served("kubectl get pods", standins.AWS_S3) == []
