"""A variant that was asked for never skips quietly, and every report says which variants ran."""

from __future__ import annotations

from html import escape

import pytest

TESTS = """
from html import escape

import pytest
from fixtures import outcomes
from labkit.drivers import BUILT_IN as VARIANTS

@pytest.fixture
def lab(request, variant):
    if variant.name == "s3-pv":
        outcomes.cannot_run(request.config, variant, ["needs an S3 bucket: no S3 region"])
    outcomes.record(request.config, variant, "ran")


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_scenario(lab):
    pass


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_static_render(variant):
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest('pytest_plugins = ["fixtures.options", "fixtures.outcomes"]')
    pytester.makepyfile(test_lab=TESTS)
    return pytester


def test_unrequired_variant_skips_with_its_reason(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-rs")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["*lab variants*", "emptydir: ran", "s3-pv: skipped: s3-pv needs an S3 bucket: no S3 region"])


def test_required_variant_that_cannot_run_fails_the_run(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--require", "all", "--junitxml=junit.xml", "--html=report.html")
    result.assert_outcomes(passed=3, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*required variant cannot run (--require): s3-pv needs an S3 bucket: no S3 region*",
            "emptydir (required): ran",
            "s3-pv (required): failed: required (--require) but cannot run: s3-pv needs an S3 bucket: no S3 region",
        ]
    )
    junit = (suite.path / "junit.xml").read_text()
    assert '<property name="variant s3-pv (required)" value="failed: required (--require)' in junit
    html = (suite.path / "report.html").read_text()
    assert "Lab variants" in html
    assert "s3-pv (required): failed" in html


def test_required_variant_not_selected_is_a_usage_error(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--require", "s3-pv", "-k", "emptydir")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--require names s3-pv but no test of it is selected*"])


def test_unknown_required_variant_names_the_known_ones(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--require", "emptydir,efs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--require 'emptydir,efs': no variant efs; use 'all' or names from: emptydir, s3-pv*"])


STOPPED = [
    # bad input while pytest configures: the report plugins have not started
    (["--run-id", "Bad_Id"], "usage error: --run-id 'Bad_Id': use 1-12 lowercase letters or digits"),
    # during collection
    (["--require", "s3-pv", "-k", "emptydir"], "usage error: --require names s3-pv but no test of it is selected"),
]


@pytest.mark.parametrize(("args", "why"), STOPPED)
def test_a_stopped_run_leaves_reports_that_say_so(suite: pytest.Pytester, args: list[str], why: str) -> None:
    result = suite.runpytest(*args, "--junitxml=reports/junit.xml", "--html=reports/report.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    junit = (suite.path / "reports" / "junit.xml").read_text()
    assert 'errors="1"' in junit
    assert why in junit
    html = (suite.path / "reports" / "report.html").read_text()
    assert "still running" not in html.lower()
    assert escape(why) in html


def test_a_run_stopped_by_a_fixture_leaves_reports_that_say_so(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_stop="""
from html import escape

import pytest

def test_cluster():
    pytest.exit("the API server of k refuses connections", returncode=pytest.ExitCode.USAGE_ERROR)
"""
    )
    result = suite.runpytest("test_stop.py", "--junitxml=reports/junit.xml", "--html=reports/report.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    junit = (suite.path / "reports" / "junit.xml").read_text()
    assert 'errors="1"' in junit
    assert "stopped: the API server of k refuses connections" in junit
    assert "The run stopped" in (suite.path / "reports" / "report.html").read_text()


def test_tests_that_do_not_deploy_the_lab_list_no_variants(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-k", "static")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*lab variants*")
