"""A field that differs per learner (a region, an account, an ARN, a bucket or cluster name)
must follow the learner's values; written as a literal, the static tier names it."""

from __future__ import annotations

import copy
from typing import Any

from labkit import invariants

PV: dict[str, Any] = {
    "kind": "PersistentVolume",
    "metadata": {"name": "s3-pv", "labels": {"region": "us-west-2"}},
    "spec": {
        "mountOptions": ["allow-delete", "region=eu-central-1"],
        "csi": {"volumeAttributes": {"bucketName": "lab-bucket-a"}},
    },
}
SA: dict[str, Any] = {
    "kind": "ServiceAccount",
    "metadata": {"name": "driver", "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/driver"}},
}
POD: dict[str, Any] = {
    "kind": "Deployment",
    "metadata": {"name": "ui"},
    "spec": {
        "template": {"spec": {"serviceAccountName": "ui", "containers": [{"image": "602401143452.dkr.ecr.us-west-2.amazonaws.com/x:1"}]}}
    },
}


def another_learner() -> list[dict[str, Any]]:
    pv = copy.deepcopy(PV)
    pv["spec"]["mountOptions"][1] = "region=ap-south-2"
    pv["spec"]["csi"]["volumeAttributes"]["bucketName"] = "lab-bucket-b"
    return [pv, copy.deepcopy(SA), copy.deepcopy(POD)]


def test_fields_that_follow_the_values_pass_and_literals_are_named() -> None:
    found = invariants.learner_literals([PV, SA, POD], another_learner())
    assert found == [
        "ServiceAccount/driver: metadata.annotations.eks.amazonaws.com/role-arn is 'arn:aws:iam::111122223333:role/driver' "
        "for every learner (an AWS account id, written as a literal): use the workshop's variable"
    ], "labels, image names and a serviceAccountName are not learner-specific"


def test_a_literal_region_and_bucket_are_named() -> None:
    fixed = copy.deepcopy(PV)
    found = invariants.learner_literals([fixed], [copy.deepcopy(PV)])
    assert [line.split(" is ")[0] for line in found] == [
        "PersistentVolume/s3-pv: spec.mountOptions[1]",
        "PersistentVolume/s3-pv: spec.csi.volumeAttributes.bucketName",
    ]
