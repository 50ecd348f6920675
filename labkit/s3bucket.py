"""The run's S3 bucket: made with the run's tag, seeded with the lab's five images, reset for
each page, emptied and deleted at the end; and an S3 client whose credentials are never printed.

Where the bucket lives (AWS, an endpoint of the user's, or the suite's in-cluster server) is the
S3 driver's choice (labkit/drivers/s3.py); this is what any of them does with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from labkit import lab, redact, s3server, settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


@dataclass(frozen=True)
class Bucket:
    name: str
    region: str
    endpoint: str | None
    client: S3Client

    def keys(self) -> dict[str, int]:
        """Every object's key and size (all pages)."""
        sizes: dict[str, int] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            for obj in page.get("Contents", []):
                sizes[obj["Key"]] = obj["Size"]
        return sizes

    def reset(self) -> None:
        """Back to what the learner put there, the seed images alone: a lab page replayed after
        the scenario tests lists the bucket as the page's reader would find it (the bucket is
        the run's own)."""
        strays = [{"Key": key} for key in self.keys() if key not in lab.BUCKET_SEED]
        if strays:
            self.client.delete_objects(Bucket=self.name, Delete={"Objects": strays, "Quiet": True})  # type: ignore[typeddict-item]
        seed(self.client, self.name)

    def sha256(self, key: str) -> str | None:
        """The object's sha256, or None when there is no such object."""
        try:
            body = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return hashlib.sha256(body).hexdigest()

    def shown(self, action: str, key: str | None = None) -> str:
        """The command a person would type for `action` (list, read) on the bucket."""
        if action == "read":
            return f"aws s3 cp s3://{self.name}/{key} - | sha256sum"
        return f"aws s3 ls s3://{self.name}"


def missing_reason(region: str | None, endpoint: str | None) -> str | None:
    """Why no bucket can be made, or None when region and credentials are there."""
    if not region:
        return "no S3 region: pass --s3-region or set AWS_REGION"
    credentials = boto3.session.Session(region_name=region).get_credentials()
    if credentials is None:
        where = f" for {endpoint}" if endpoint else ""
        return f"no AWS credentials{where}: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
    return None


def has_credentials() -> bool:
    return boto3.session.Session().get_credentials() is not None


def make_client(region: str, endpoint: str | None, keys: s3server.Keys | None = None) -> S3Client:
    if keys is not None:
        session = boto3.session.Session(
            region_name=region, aws_access_key_id=keys.access_key_id, aws_secret_access_key=keys.secret_access_key
        )
    else:
        session = boto3.session.Session(region_name=region)
    creds = session.get_credentials()
    if creds is not None:
        frozen = creds.get_frozen_credentials()
        redact.add(frozen.access_key)
        redact.add(frozen.secret_key)
        redact.add(frozen.token)
    # Path-style for S3-compatible servers: their buckets are not DNS names.
    cfg = Config(s3={"addressing_style": "path"} if endpoint else {}, retries={"max_attempts": 5, "mode": "standard"})
    return session.client("s3", endpoint_url=endpoint, config=cfg)


def bucket_name(prefix: str, run_id: str) -> str:
    name = f"{prefix}-{run_id}".lower()
    if len(name) > 63:
        raise ValueError(f"bucket name {name!r} is longer than 63 characters: use a shorter --s3-bucket-prefix")
    return name


def create(client: S3Client, name: str, region: str, run_id: str, endpoint: str | None) -> None:
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    client.create_bucket(**kwargs)
    tags = {"TagSet": [{"Key": settings.LABEL_RUN, "Value": run_id}, {"Key": settings.LABEL_MANAGED_BY, "Value": settings.PROJECT}]}
    try:
        client.put_bucket_tagging(Bucket=name, Tagging=tags)  # type: ignore[arg-type]
    except ClientError as err:
        # Some S3-compatible servers lack tagging; on AWS the tag is what the sweeper finds.
        if endpoint is None or err.response.get("Error", {}).get("Code") != "NotImplemented":
            raise


def seed(client: S3Client, name: str) -> None:
    for image in lab.BUCKET_SEED:
        client.put_object(Bucket=name, Key=image, Body=(settings.PRODUCT_IMAGES / image).read_bytes(), ContentType="image/jpeg")


def destroy(client: S3Client, name: str) -> int:
    """Empty (every page) and delete the bucket; return how many objects were removed."""
    removed = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        batch = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if batch:
            client.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})  # type: ignore[typeddict-item]
            removed += len(batch)
    client.delete_bucket(Bucket=name)
    return removed
