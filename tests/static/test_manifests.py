"""The static tier: no cluster, seconds. Every overlay renders, every object is valid for
the pinned Kubernetes version, and the lab's invariants hold, so a broken manifest turns
the run red with the object and field that broke."""

from __future__ import annotations

import kubernetes_validate
import pytest

from labkit import drivers, invariants, render, safety, settings
from labkit.lab import App
from labkit.sources import LabSource
from labkit.variants import Variant

# Per-run values as the suite would fill them (a documentation address for the endpoint).
VALUES = {"S3_BUCKET": "example-bucket", "AWS_REGION": "us-west-2"}
ENDPOINT = {"S3_ENDPOINT": "http://192.0.2.10:9000"}
# Another learner's values: every learner-specific field must follow them.
ANOTHER_LEARNER = {"S3_BUCKET": "another-learners-bucket", "AWS_REGION": "eu-central-1"}


@pytest.fixture(params=["aws", "endpoint"])
def docs(request: pytest.FixtureRequest, variant: Variant, lab_source: LabSource, lab_timeouts: settings.Timeouts) -> list[render.Obj]:
    """The variant rendered for AWS, and for an S3-compatible endpoint."""
    values = dict(VALUES, **ENDPOINT) if request.param == "endpoint" else dict(VALUES)
    return render.render(variant, values, timeouts=lab_timeouts, source=lab_source)


@pytest.fixture
def app(lab_source: LabSource) -> App:
    """The app the layout runs the lab on (assets, or ui in the workshop's current tree)."""
    return lab_source.layout.app


def test_overlay_renders(docs: list[render.Obj], app: App) -> None:
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    assert f"Deployment/{app.name}" in kinds, kinds


def test_objects_valid_for_pinned_kubernetes(docs: list[render.Obj]) -> None:
    minor = settings.kubernetes_minor()
    problems = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, minor, strict=True)
        except kubernetes_validate.ValidationError as err:
            where = ".".join(str(p) for p in err.path) or "(top)"
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {where}: {err.message}")
    assert not problems, f"invalid for Kubernetes {minor}:\n" + "\n".join(problems)


def test_app_is_the_labs(docs: list[render.Obj], app: App) -> None:
    deployment = render.one(docs, "Deployment", app.name)
    problems = invariants.base_objects(docs, app) + invariants.deployment(deployment, app)
    assert not problems, "the app differs from the lab:\n" + "\n".join(problems)


def test_nothing_reaches_the_node_or_the_cluster(docs: list[render.Obj]) -> None:
    """The live tier applies these as written: no host namespace, host path, privilege or
    administrative binding gets in through a manifest change."""
    problems = safety.dangers(docs)
    assert not problems, "the manifests reach beyond the lab:\n" + "\n".join(problems)


def test_store_matches_verdict(docs: list[render.Obj], variant: Variant, app: App) -> None:
    problems = invariants.shared_store(docs, variant, app)
    assert not problems, f"{variant.name} is expected {variant.verdict.value!r} but its manifests do not make it so:\n" + "\n".join(
        problems
    )


def test_endpoint_options_only_with_endpoint(variant: Variant, lab_source: LabSource, lab_timeouts: settings.Timeouts) -> None:
    if not variant.optional_components:
        pytest.skip(f"{variant.name} has no per-endpoint options")
    plain = render.render(variant, VALUES, timeouts=lab_timeouts, source=lab_source)
    local = render.render(variant, dict(VALUES, **ENDPOINT), timeouts=lab_timeouts, source=lab_source)
    options_plain = render.one(plain, "PersistentVolume")["spec"]["mountOptions"]
    options_local = render.one(local, "PersistentVolume")["spec"]["mountOptions"]
    assert not [o for o in options_plain if o.startswith("endpoint-url") or o == "force-path-style"], options_plain
    assert f"endpoint-url={ENDPOINT['S3_ENDPOINT']}" in options_local, options_local
    assert "force-path-style" in options_local, options_local


def test_run_copy_keeps_the_lab(docs: list[render.Obj], variant: Variant, app: App) -> None:
    """The run's own copy (namespace, names, labels, spread) still keeps every invariant."""
    mine = render.for_run(docs, namespace="assets-x-r1", run_id="r1", variant=variant.name, spread_over_nodes=True)
    unlabelled = [f"{d['kind']}/{d['metadata']['name']}" for d in mine if d["metadata"]["labels"].get(settings.LABEL_RUN) != "r1"]
    assert not unlabelled, f"objects without the run label: {unlabelled}"
    problems = invariants.shared_store(mine, variant, app) + invariants.deployment(render.one(mine, "Deployment"), app)
    assert not problems, "\n".join(problems)


def test_learner_specific_fields_follow_the_learners_values(
    docs: list[render.Obj], variant: Variant, lab_source: LabSource, lab_timeouts: settings.Timeouts
) -> None:
    """A region, bucket or account written as a literal works only for one learner; rendered
    with a second learner's values, each such field must change."""
    endpoint = any(o.startswith("endpoint-url") for d in docs for o in (d.get("spec") or {}).get("mountOptions") or [])
    values = dict(ANOTHER_LEARNER, **ENDPOINT) if endpoint else dict(ANOTHER_LEARNER)
    another = render.render(variant, values, timeouts=lab_timeouts, source=lab_source)
    literals = invariants.learner_literals(docs, another)
    assert not literals, f"{variant.name} works only for one learner:\n" + "\n".join(literals)


def test_volume_handles_unique_across_variants(lab_source: LabSource, lab_timeouts: settings.Timeouts) -> None:
    every = [doc for v in drivers.all_drivers() for doc in render.render(v, VALUES, timeouts=lab_timeouts, source=lab_source)]
    problems = invariants.unique_volume_handles(every)
    assert not problems, "\n".join(problems)
