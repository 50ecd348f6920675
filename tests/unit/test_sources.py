"""Lab sources: the suite's copy or a workshop checkout, recognised from its files, each
variant's path and variables as data (sample trees written for these tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labkit import invariants, lab, render, settings, sources
from labkit.drivers import by_name

TIMEOUTS = settings.Timeouts()

TREES = Path(__file__).resolve().parent.parent / "data" / "workshop"


def test_each_layout_is_recognised_from_its_files() -> None:
    assert sources.detect(TREES / "assets-layout").layout.name == "workshop-assets"
    ui = sources.detect(TREES / "ui-layout")
    assert ui.layout.name == "workshop-ui"
    assert set(ui.layout.not_live) == {"emptydir"}


def test_an_unknown_tree_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(sources.SourceError, match=r"looked for workshop-assets: manifests/base-application/assets/kustomization.yaml"):
        sources.detect(tmp_path)


def test_a_missing_variant_path_is_one_line_naming_it(tmp_path: Path) -> None:
    shutil.copytree(TREES / "assets-layout", tmp_path / "tree")
    source = sources.detect(tmp_path / "tree")
    shutil.rmtree(tmp_path / "tree" / "manifests" / "base-application" / "assets")
    with pytest.raises(
        render.ManifestError, match=r"^emptydir: .*manifests/base-application/assets/kustomization.yaml is missing in workshop-assets"
    ):
        render.render(by_name("emptydir"), {}, source=source, timeouts=TIMEOUTS)


def test_workshop_variables_are_filled_the_workshops_way() -> None:
    docs = render.render(
        by_name("s3-pv"),
        {"S3_BUCKET": "lab-bucket", "AWS_REGION": "eu-west-1"},
        source=sources.detect(TREES / "assets-layout"),
        timeouts=TIMEOUTS,
    )
    data = render.one(docs, "ConfigMap", "bucket")["data"]
    assert data == {"bucket": "lab-bucket", "region": "eu-west-1", "untouched": "$HOME-is-not-the-labs"}


def test_a_workshop_variable_without_a_value_is_an_error() -> None:
    with pytest.raises(render.ManifestError, match=r"variable \$\{BUCKET_NAME\} has no value for this run"):
        render.render(by_name("s3-pv"), {"AWS_REGION": "eu-west-1"}, source=sources.detect(TREES / "assets-layout"), timeouts=TIMEOUTS)


def test_the_built_in_source_is_the_variant_rows() -> None:
    source = render.built_in()
    for name in ("emptydir", "s3-pv"):
        assert source.overlay(name).relative_to(source.root).as_posix() == by_name(name).overlay


def _ui_s3(tree: Path) -> list[render.Obj]:
    return render.render(
        by_name("s3-pv"), {"S3_BUCKET": "lab-bucket", "AWS_REGION": "eu-west-1"}, source=sources.detect(tree), timeouts=TIMEOUTS
    )


def test_only_a_workshop_checkout_is_the_replays_environment() -> None:
    """~/environment/eks-workshop stands for a workshop checkout's manifests/, never the suite's copy."""
    tree = TREES / "ui-layout"
    assert sources.detect(tree).workshop_manifests == tree.resolve() / "manifests"
    assert render.built_in().workshop_manifests is None


def test_the_current_layout_is_held_to_the_ui_apps_facts() -> None:
    source = sources.detect(TREES / "ui-layout")
    assert source.layout.app is lab.UI
    docs = _ui_s3(TREES / "ui-layout")
    assert invariants.base_objects(docs, lab.UI) + invariants.deployment(render.one(docs, "Deployment", "ui"), lab.UI) == []
    assert invariants.shared_store(docs, by_name("s3-pv"), lab.UI) == []


def test_a_ui_volume_with_the_assets_uid_is_caught(tmp_path: Path) -> None:
    shutil.copytree(TREES / "ui-layout", tmp_path / "tree")
    volume = tmp_path / "tree" / "manifests" / "modules" / "fundamentals" / "storage" / "s3" / "deployment" / "volume.yaml"
    volume.write_text(volume.read_text().replace("uid=1000", "uid=999"))
    problems = invariants.shared_store(_ui_s3(tmp_path / "tree"), by_name("s3-pv"), lab.UI)
    assert len(problems) == 1
    assert problems[0].endswith("lacks 'uid=1000'")


@pytest.mark.parametrize(
    ("written", "canonical", "same"),
    [("1.5Gi", "1536Mi", True), ("250m", "0.25", True), ("128Mi", "128m", False), ("1Gi", "1G", False), ("2", "abc", False)],
)
def test_quantities_compare_by_value_as_the_api_server_rewrites_them(written: str, canonical: str, same: bool) -> None:
    """A live Deployment shows the API server's form of a quantity, not the manifest's."""
    assert (invariants.quantity(written) == invariants.quantity(canonical)) is same


def test_a_ui_baseline_that_shares_a_path_turns_the_static_tier_red(tmp_path: Path) -> None:
    """The ui app keeps no files of its own, so the baseline's store check holds its whole
    container to pod-local volumes: a hostPath anywhere in it is named."""
    shutil.copytree(TREES / "ui-layout", tmp_path / "tree")
    app = tmp_path / "tree" / "manifests" / "base-application" / "ui" / "app.yaml"
    text = app.read_text()
    text = text.replace(
        "            - name: tmp-volume\n              mountPath: /tmp\n",
        "            - name: tmp-volume\n              mountPath: /tmp\n            - name: shared\n              mountPath: /app/static\n",
    )
    text = text.replace("      volumes:\n", "      volumes:\n        - name: shared\n          hostPath:\n            path: /srv/ui\n")
    app.write_text(text)
    source = sources.detect(tmp_path / "tree")
    baseline = by_name("emptydir")
    clean = invariants.shared_store(
        render.render(baseline, {}, source=sources.detect(TREES / "ui-layout"), timeouts=TIMEOUTS), baseline, lab.UI
    )
    assert clean == []
    problems = invariants.shared_store(render.render(baseline, {}, source=source, timeouts=TIMEOUTS), baseline, lab.UI)
    assert problems == [
        "Deployment/ui: spec.template.spec.containers[ui].volumeMounts: 'shared' (hostPath) is mounted at /app/static, which would "
        "share what the app writes there; the baseline mounts only pod-local volumes (emptyDir, configMap, secret, ...)"
    ]
