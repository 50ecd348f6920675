"""The nightly role's policy (`nightly-policy.json`) as data, and the question every check asks
of it: which of these actions does it not allow? Asked by the EKS unit tests of the calls they
record, and by the dry run (labkit/eks/dryrun.py) of the requests its AWS stand-in received."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FILE = Path(__file__).with_name("nightly-policy.json")
# S3 operations whose IAM action has another name; every other service's action is its operation's.
S3_ACTIONS = {
    "ListBuckets": "ListAllMyBuckets",
    "ListObjectsV2": "ListBucket",
    "ListObjects": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "DeleteObjects": "DeleteObject",
    "HeadObject": "GetObject",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "ListMultipartUploads": "ListBucketMultipartUploads",
}


def action(service: str, operation: str) -> str:
    return f"s3:{S3_ACTIONS.get(operation, operation)}" if service == "s3" else f"{service}:{operation}"


def statements(document: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (document or json.loads(FILE.read_text()))["Statement"]
    return found


def actions_of(statement: dict[str, Any]) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else list(statement["Action"])


def allowed(document: dict[str, Any] | None = None) -> list[str]:
    return [a for s in statements(document) if s["Effect"] == "Allow" for a in actions_of(s)]


def not_allowed(actions: Iterable[str], document: dict[str, Any] | None = None) -> list[str]:
    """The actions no Allow statement names (IAM's case-insensitive wildcards); conditions and
    resources are not evaluated: only AWS does that."""
    patterns = [p.lower() for p in allowed(document)]
    return sorted({a for a in actions if not any(fnmatch.fnmatchcase(a.lower(), p) for p in patterns)})
