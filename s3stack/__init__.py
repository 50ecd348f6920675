"""s3stack: the Mountpoint for Amazon S3 stack for the local cluster (see README.md).

Other tools take only the names below: kindstack loads the same images into kind's nodes.
"""

from s3stack.images import built_images

__all__ = ["built_images"]
