"""The Kubernetes version a new cluster gets and the driver's add-on version: EKS's answer at run time."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from labkit.eks import errors, names, versions
from labkit.eks.aws import Clients

from .test_s3csi import compatible


def offered(*listed: tuple[str, str]) -> dict[str, object]:
    return {"clusterVersions": [{"clusterVersion": v, "versionStatus": status} for v, status in listed]}


def test_the_newest_version_eks_offers_is_chosen(clients: Clients, eks_stub: Stubber) -> None:
    answer = offered(("1.31", "EXTENDED_SUPPORT"), ("1.33", "STANDARD_SUPPORT"), ("1.32", "STANDARD_SUPPORT"), ("1.34", "UNSUPPORTED"))
    eks_stub.add_response("describe_cluster_versions", answer, {})
    assert versions.newest_kubernetes(clients) == "1.33"


def supports(*cluster_versions: str) -> dict[str, object]:
    """DescribeAddonVersions for the driver, all versions: one compatible with each given Kubernetes."""
    listed = [{"addonVersion": f"v1.{n}.0-eksbuild.1", "compatibilities": [{"clusterVersion": v}]} for n, v in enumerate(cluster_versions)]
    return {"addons": [{"addonName": names.ADDON, "addonVersions": listed}]}


def test_with_the_driver_the_newest_version_it_supports_too_is_chosen(clients: Clients, eks_stub: Stubber) -> None:
    eks_stub.add_response("describe_cluster_versions", offered(("1.34", "STANDARD_SUPPORT"), ("1.33", "STANDARD_SUPPORT")), {})
    eks_stub.add_response("describe_addon_versions", supports("1.32", "1.33"), {"addonName": names.ADDON})
    assert versions.newest_kubernetes(clients, names.ADDON) == "1.33"


def test_a_driver_that_supports_no_offered_version_stops_before_any_cluster(clients: Clients, eks_stub: Stubber) -> None:
    eks_stub.add_response("describe_cluster_versions", offered(("1.34", "STANDARD_SUPPORT")), {})
    eks_stub.add_response("describe_addon_versions", supports("1.30"), {"addonName": names.ADDON})
    with pytest.raises(errors.EksError, match=r"supports none of the Kubernetes versions EKS offers in eu-west-1 \(1.34\)"):
        versions.newest_kubernetes(clients, names.ADDON)


def test_versions_sort_as_numbers() -> None:
    assert max(["1.9", "1.10"], key=versions.key) == "1.10"
    assert max(["v1.9.0-eksbuild.3", "v1.10.0-eksbuild.1"], key=versions.key) == "v1.10.0-eksbuild.1"


def test_no_version_offered_names_the_option(clients: Clients, eks_stub: Stubber) -> None:
    eks_stub.add_response("describe_cluster_versions", offered(), {})
    with pytest.raises(errors.EksError, match=r"EKS lists no Kubernetes version in eu-west-1: pass --eks-kubernetes-version"):
        versions.newest_kubernetes(clients)


def ask(stub: Stubber, answer: dict[str, object]) -> None:
    stub.add_response("describe_addon_versions", answer, {"addonName": names.ADDON, "kubernetesVersion": "1.33"})


def test_the_addon_version_eks_marks_default_is_preferred_to_a_newer_one(clients: Clients, eks_stub: Stubber) -> None:
    ask(eks_stub, compatible(("v1.15.0-eksbuild.1", False), ("v1.14.1-eksbuild.1", True)))
    assert versions.addon_version(clients, names.ADDON, "1.33") == "v1.14.1-eksbuild.1"


def test_without_a_default_the_newest_compatible_addon_version_is_chosen(clients: Clients, eks_stub: Stubber) -> None:
    ask(eks_stub, compatible(("v1.9.0-eksbuild.1", False), ("v1.10.0-eksbuild.1", False)))
    assert versions.addon_version(clients, names.ADDON, "1.33") == "v1.10.0-eksbuild.1"


def test_no_compatible_addon_version_names_the_fix(clients: Clients, eks_stub: Stubber) -> None:
    ask(eks_stub, {"addons": []})
    with pytest.raises(errors.EksError) as caught:
        versions.addon_version(clients, names.ADDON, "1.33")
    assert str(caught.value) == (
        "add-on aws-mountpoint-s3-csi-driver has no version EKS lists as compatible with Kubernetes 1.33: "
        "pass an older --eks-kubernetes-version with --eks-create, or use a cluster of a version the add-on supports"
    )
