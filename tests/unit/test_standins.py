"""Stand-ins for the workshop's environment: a page's `aws s3` runs (the real AWS CLI, pointed
at the run's S3 server by the replay's environment); every other cloud command stays out."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labkit import page, replay, standins


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
    refused = subprocess.run([str(aws), "iam", "list-roles"], capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "aws iam: the suite stands in only for aws s3, aws s3api, and the Mountpoint add-on's aws eks"
    version = subprocess.run([str(aws), "--version"], capture_output=True, text=True, check=False)
    assert (version.stdout + version.stderr).startswith("aws-cli/1."), "the real AWS CLI, from the suite's Python"


def test_a_command_served_by_a_stand_in_names_it() -> None:
    assert standins.served("aws s3 ls $BUCKET_NAME", standins.AWS_S3) == [f"aws s3: {standins.AWS_S3['aws s3']}"]
    assert standins.served("kubectl get pods", standins.AWS_S3) == []


MODULES = Path(__file__).resolve().parents[1] / "data" / "workshop" / "ui-layout" / "manifests" / "modules"
FACTS = standins.RunFacts("run-bucket", "eu-west-1", "storage-lab", "v1.36.3")


def test_a_modules_variables_come_from_its_own_outputs() -> None:
    text = (MODULES / "fundamentals" / "storage" / "s3" / standins.TERRAFORM_OUTPUTS).read_text()
    variables = standins.module_variables(text)
    assert list(variables) == ["BUCKET_NAME", "DRIVER_ROLE_ARN", "EKS_CLUSTER_NAME", "LAB_REGION", "QUEUE_URL"]
    exported, left = standins.derive(variables, FACTS)
    assert exported == {
        "BUCKET_NAME": "run-bucket",
        "DRIVER_ROLE_ARN": "arn:aws:iam::000000000000:role/driver-role-arn-stand-in",
        "EKS_CLUSTER_NAME": "storage-lab",
        "LAB_REGION": "eu-west-1",
    }
    assert left == {"QUEUE_URL": "no stand-in for aws_sqs_queue.events.url"}


def test_prepare_environment_exports_them_in_blocks_and_hooks(tmp_path: Path) -> None:
    function, left_out = standins.prepare_environment(MODULES, FACTS)
    assert set(left_out) == {"fundamentals/storage/s3"}
    env = {"PATH": "/usr/bin:/bin", standins.FUNCTION_VARIABLE: function}
    script = 'prepare-environment fundamentals/storage/s3 && echo "$BUCKET_NAME $EKS_CLUSTER_NAME" && bash -c "prepare-environment"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "run-bucket storage-lab"
    assert out.stderr.count("stood in by the suite") == 2, "a hook's bash has the function too"
    assert replay.why_not_run("prepare-environment fundamentals/storage/s3", "/usr/bin:/bin", standins.PREPARE_ENVIRONMENT) is None
    assert standins.served("prepare-environment x", standins.PREPARE_ENVIRONMENT) == [
        f"prepare-environment: {standins.PREPARE_ENVIRONMENT['prepare-environment']}"
    ]


ADDON = "--addon-name aws-mountpoint-s3-csi-driver"


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (f"aws eks create-addon --cluster-name $EKS_CLUSTER_NAME {ADDON} --service-account-role-arn $ROLE", None),
        (f"aws eks wait addon-active --cluster-name $EKS_CLUSTER_NAME {ADDON}", None),
        (f"aws eks describe-addon --cluster-name $EKS_CLUSTER_NAME {ADDON}", None),
        (f"aws eks delete-addon --cluster-name $EKS_CLUSTER_NAME {ADDON}", "not run: it acts on the workshop's AWS account (aws)"),
    ],
)
def test_the_mountpoint_add_on_has_a_stand_in(command: str, reason: str | None, tmp_path: Path) -> None:
    path = f"{standins.aws_shim(tmp_path / 'bin')}:/usr/bin:/bin"
    assert replay.why_not_run(command, path, standins.AWS_S3 | standins.AWS_EKS_ADDON) == reason


def test_the_add_on_stand_in_reports_and_waits_for_the_suites_driver(tmp_path: Path) -> None:
    aws = standins.aws_shim(tmp_path / "bin") / "aws"
    calls = tmp_path / "kubectl-calls"
    (tmp_path / "bin" / "kubectl").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (tmp_path / "bin" / "kubectl").chmod(0o755)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "LAB_ADDON_WAIT_SECONDS": "42"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(aws), "eks", *args], capture_output=True, text=True, env=env, check=False)

    created = run("create-addon", "--cluster-name", "lab", *ADDON.split())
    assert created.returncode == 0, created.stderr
    assert '"status": "CREATING"' in created.stdout
    assert run("wait", "addon-active", "--cluster-name", "lab", *ADDON.split()).returncode == 0
    assert calls.read_text().split() == ["rollout", "status", "daemonset/s3-csi-node", "-n", "kube-system", "--timeout=42s"]
    other = run("create-addon", "--cluster-name", "lab", "--addon-name", "vpc-cni")
    assert other.returncode == 1
    assert "only for add-on aws-mountpoint-s3-csi-driver (not vpc-cni)" in other.stderr


@pytest.mark.parametrize(
    ("command", "files"),
    [
        ("wget https://example.com/a/sample-images.zip \\\n  -O /tmp/sample-images.zip", ["/tmp/sample-images.zip"]),
        ("wget https://example.com/a/sample-images.zip?x=1", ["sample-images.zip"]),
        ("wget -O- https://example.com/a.sh | bash", []),
        ("curl -sSL -o /tmp/x.tgz https://example.com/x.tgz && tar xzf /tmp/x.tgz", ["/tmp/x.tgz"]),
        ("curl --output=/tmp/y https://example.com/y", ["/tmp/y"]),
        ("curl -O https://example.com/z.tar.gz", ["z.tar.gz"]),
        ("curl --remote-name-all https://example.com/a/{x.jpg,y.jpg}", ["x.jpg", "y.jpg"]),
        ("curl -sSLO https://example.com/images.zip", ["images.zip"]),
        ("curl -sSLo /tmp/i.zip https://example.com/images.zip", ["/tmp/i.zip"]),
        ("wget -qO /tmp/w.zip https://example.com/w.zip", ["/tmp/w.zip"]),
        ("wget -q -O/tmp/v.zip https://example.com/v.zip", ["/tmp/v.zip"]),
        ("wget --output-document /tmp/u.zip https://example.com/u.zip", ["/tmp/u.zip"]),
        ("wget -qO- https://example.com/install.sh | sh", []),
        ("curl -s https://example.com/", []),
        ("kubectl get pods", []),
    ],
)
def test_what_a_download_would_have_written(command: str, files: list[str]) -> None:
    assert replay.download_outputs(command) == files


def write_page(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "p.md"
    path.write_text(f"---\ntitle: t\n---\n\n```bash\n{body}\n```\n")
    return path


def test_what_reads_a_left_out_download_is_not_run_for_that_cause(tmp_path: Path) -> None:
    body = "$ mkdir -p ~/environment/assets\n$ wget https://example.com/s.zip -O /tmp/s.zip\n$ unzip /tmp/s.zip -d ~/environment/assets\n$ ls /tmp/s.zip.bak || true"
    shell = replay.Replay({"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, tmp_path)
    (tmp_path / standins.ENVIRONMENT_DIR).mkdir()
    (result,) = shell.run(page.parse(write_page(tmp_path, body)))
    mkdir, wget, unzip, other = result.commands
    assert mkdir.ran
    assert (tmp_path / "environment" / "assets").is_dir(), "the replay's environment is written, not left out"
    assert wget.comparison.detail == "not run: it downloads from the internet (wget)"
    assert unzip.comparison.detail == "not run: it reads /tmp/s.zip, which the download at p.md line 7 would have fetched"
    assert other.ran, "another file that only starts with the same name is not the download's"
    assert result.failure is None


def test_without_the_environment_its_commands_are_not_run(tmp_path: Path) -> None:
    (result,) = replay.Replay({"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, tmp_path).run(
        page.parse(write_page(tmp_path, "$ mkdir ~/environment/assets"))
    )
    assert result.commands[0].comparison.detail == "not run: it reads the workshop's environment (~/environment)"


def test_the_environment_is_a_copy_of_the_lab_sources_manifests(tmp_path: Path) -> None:
    copy = standins.environment(tmp_path, MODULES.parent)
    assert copy == tmp_path / "environment" / "eks-workshop"
    assert (copy / "modules" / "fundamentals" / "storage" / "s3" / standins.TERRAFORM_OUTPUTS).is_file()
    (copy / "written-by-a-page").touch()
    assert not (MODULES.parent / "written-by-a-page").exists(), "a page writes to its copy, never to the lab source"
    assert standins.served("kubectl kustomize $HOME/environment/eks-workshop/modules/x", standins.ENVIRONMENT) == [
        f"~/environment/eks-workshop: {standins.ENVIRONMENT['~/environment/eks-workshop']}"
    ]
