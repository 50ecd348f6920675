"""The nightly role's policy (labkit/eks/nightly-policy.json): every operation the suite's code
makes is in it (conftest checks each EKS test's calls), and nothing in it is broader than the
service lets it be: writes are held to the project's tags or name, roles are passed to EKS only."""

from __future__ import annotations

import re

from labkit.eks.policy import actions_of as actions
from labkit.eks.policy import statements

READS = re.compile(r"^[a-z0-9]+:(Describe|List|Get)")
# EKS and the VPC CNI make these in the run's VPC without the suite's tags: teardown deletes only those.
UNTAGGED_BY_EKS = "DeleteWhatEksLeavesInTheRunsVpc"


def test_no_wildcard_action_and_no_deny_to_reason_about() -> None:
    for statement in statements():
        assert statement["Effect"] == "Allow"
        assert not [a for a in actions(statement) if "*" in a], statement["Sid"]


def test_every_write_is_held_to_the_projects_tags_or_names() -> None:
    for statement in statements():
        writes = [a for a in actions(statement) if not READS.match(a) and a != "sts:GetCallerIdentity"]
        if not writes or statement["Sid"] == UNTAGGED_BY_EKS:
            continue
        scoped = statement.get("Condition") or statement["Resource"] != "*"
        assert scoped, f"{statement['Sid']}: {', '.join(writes)} on every resource, unconditioned"


def test_roles_are_passed_to_eks_only_and_only_the_runs() -> None:
    (passing,) = [s for s in statements() if "iam:PassRole" in actions(s)]
    assert passing["Resource"].startswith("arn:aws:iam::*:role/storage-lab-conformance/")
    assert set(passing["Condition"]["StringEquals"]["iam:PassedToService"]) == {"eks.amazonaws.com", "pods.eks.amazonaws.com"}
