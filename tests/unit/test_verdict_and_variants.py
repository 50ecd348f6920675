"""The verdict is an explicit assertion both ways; variants are complete rows of data."""

from __future__ import annotations

import re

import pytest

from labkit import lab, render, settings, sources, verdict
from labkit.drivers import BUILT_IN as VARIANTS
from labkit.drivers import by_name
from labkit.kube import PodInfo
from labkit.variants import Variant, Verdict

TIMEOUTS = settings.Timeouts()

A = PodInfo("assets-a", "node-1", "u1")
B = PodInfo("assets-b", "node-2", "u2")
IMAGES = list(lab.PRODUCT_IMAGES)


def test_not_shared_fails_when_the_other_pod_sees_the_file() -> None:
    with pytest.raises(AssertionError) as caught:
        verdict.check(by_name("emptydir"), "divewatch.jpg", A, [*IMAGES, "divewatch.jpg"], B, [*IMAGES, "divewatch.jpg"])
    text = str(caught.value)
    assert "emptydir expects divewatch.jpg written in pod assets-a (node node-1) to be not shared" in text
    assert "pod assets-b (node node-2) lists it" in text


def test_shared_fails_when_the_other_pod_lacks_the_file() -> None:
    with pytest.raises(
        AssertionError, match=r"s3-pv expects divewatch.jpg .* to be shared, but pod assets-b \(node node-2\) does not list it"
    ):
        verdict.check(by_name("s3-pv"), "divewatch.jpg", A, [*IMAGES, "divewatch.jpg"], B, IMAGES)


@pytest.mark.parametrize(("name", "read"), [("emptydir", IMAGES), ("s3-pv", [*IMAGES, "divewatch.jpg"])])
def test_expected_outcomes_pass(name: str, read: list[str]) -> None:
    verdict.check(by_name(name), "divewatch.jpg", A, [*IMAGES, "divewatch.jpg"], B, read)


@pytest.mark.parametrize("read", [[], ["lost+found"], IMAGES[:2]])
def test_not_shared_cannot_pass_on_a_listing_without_the_store(read: list[str]) -> None:
    with pytest.raises(AssertionError, match=r"pod assets-b \(node node-2\) /usr/share/nginx/html/assets lacks the lab's images"):
        verdict.check(by_name("emptydir"), "divewatch.jpg", A, [*IMAGES, "divewatch.jpg"], B, read)


def test_writer_listing_must_show_the_store_too() -> None:
    with pytest.raises(AssertionError, match=r"pod assets-a .* lacks the lab's images"):
        verdict.check(by_name("s3-pv"), "divewatch.jpg", A, ["divewatch.jpg"], B, [*IMAGES, "divewatch.jpg"])


SUM = "ab" * 32


@pytest.mark.parametrize(("name", "at_reader"), [("emptydir", None), ("s3-pv", SUM)])
def test_content_outcomes_pass(name: str, at_reader: str | None) -> None:
    verdict.check_content(by_name(name), "photo.jpg", SUM, A, SUM, B, at_reader)


@pytest.mark.parametrize(
    ("name", "at_writer", "at_reader", "says"),
    [
        ("emptydir", SUM, SUM, "should read no such file, it reads " + SUM),
        ("s3-pv", SUM, None, f"should read {SUM}, it reads no such file"),
        ("s3-pv", SUM, "cd" * 32, f"should read {SUM}, it reads {'cd' * 32}"),
        ("s3-pv", None, SUM, "reads /mountpoint-s3/photo.jpg as absent right after writing"),
    ],
)
def test_content_mismatch_names_both_pods(name: str, at_writer: str | None, at_reader: str | None, says: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(says)):
        verdict.check_content(by_name(name), "photo.jpg", SUM, A, at_writer, B, at_reader)


def test_both_verdicts_are_covered() -> None:
    assert {v.verdict for v in VARIANTS} == {Verdict.SHARED, Verdict.NOT_SHARED}


@pytest.mark.parametrize("row", VARIANTS, ids=str)
def test_row_is_complete(row: object) -> None:
    assert isinstance(row, Variant)
    variant = row
    assert (settings.MANIFESTS / variant.overlay / "kustomization.yaml").is_file()
    for component in variant.optional_components.values():
        assert (settings.MANIFESTS / component / "kustomization.yaml").is_file()
    values = dict.fromkeys(sources.SUITE_VALUES, "v") | dict.fromkeys(variant.optional_components, "http://h")
    render.render(variant, values, timeouts=TIMEOUTS)  # the overlay uses only values the suite has
    assert set(variant.initial_files(lab.ASSETS)) <= set(lab.PRODUCT_IMAGES)
    if variant.verdict is Verdict.SHARED:
        assert variant.claim, f"{variant.name}: a shared variant names the claim that shares"


def test_unknown_variant_lists_known() -> None:
    with pytest.raises(KeyError, match="known: emptydir, s3-pv"):
        by_name("efs")


def test_seed_images_exist_and_are_jpegs() -> None:
    for name in lab.PRODUCT_IMAGES:
        data = (settings.PRODUCT_IMAGES / name).read_bytes()
        assert data[:3] == b"\xff\xd8\xff", f"{name} is not a JPEG"
