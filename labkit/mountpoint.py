"""The Mountpoint for Amazon S3 CSI driver's names, as its chart and the EKS add-on make them:
the one spelling the suite, the EKS library and s3stack use. Standard library only."""

from __future__ import annotations

DRIVER = "s3.csi.aws.com"  # the CSIDriver, and the PV's spec.csi.driver
NAMESPACE = "kube-system"  # where the chart and the add-on install it
NODE_DAEMONSET = "s3-csi-node"
NODE_LABELS = {"app": NODE_DAEMONSET}
CONTROLLER_LABELS = {"app": "s3-csi-controller"}
SERVICE_ACCOUNT = "s3-csi-driver-sa"  # the node plugin's, which IRSA or Pod Identity trusts
# The pod mounter runs one Mountpoint pod per volume and node here, labelled with the volume.
MOUNTPOINT_NAMESPACE = "mount-s3"
MOUNTPOINT_POD_LABEL = f"{DRIVER}/volume-name"
CHART = "aws-mountpoint-s3-csi-driver"
ADDON = "aws-mountpoint-s3-csi-driver"


def selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())
