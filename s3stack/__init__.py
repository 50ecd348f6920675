"""s3stack: the Mountpoint for Amazon S3 stack for the local cluster (see README.md)."""
