"""Option parsing: every bad input stops the run with a message that names the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures import options
from labkit import settings

DEFAULTS: dict[str, Any] = {
    "cluster": None,
    "kubeconfig": None,
    "context": None,
    "kind_name": "storage-lab",
    "kind_workers": 2,
    "kind_node_image": None,
    "kind_image_archive": [],
    "keep_cluster": False,
    "keep_namespaces": False,
    "run_id": None,
    "timeout_scale": 1.0,
    "s3_region": None,
    "s3_endpoint": None,
    "s3_bucket_prefix": "p",
    "lab_report_dir": Path("reports"),
    "require": "",
    "s3_server": "auto",
    "lab_page": [],
    "lab_module": [],
    "page_strict": False,
    "lab_source": None,
    "s3_driver_chart": None,
}


def parse(**given: Any) -> options.LabOptions:
    values = dict(DEFAULTS, **given)
    return options.parse(values.__getitem__)


def kubeconfig(tmp_path: Path, current: str | None = "ctx-a") -> Path:
    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [
            {"name": "ctx-a", "context": {"cluster": "c", "user": "u"}},
            {"name": "ctx-b", "context": {"cluster": "c", "user": "u"}},
        ],
        "current-context": current,
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_without_cluster() -> None:
    opts = parse()
    assert opts.cluster is None
    assert opts.kind_node_image.startswith("kindest/node:")
    assert len(opts.run_id) <= 12


@pytest.mark.parametrize(
    ("given", "fix"),
    [
        ({"run_id": "Bad_Id"}, "1-12 lowercase letters or digits"),
        ({"timeout_scale": 0}, "above 0"),
        ({"timeout_scale": float("inf")}, "finite number above 0"),
        ({"timeout_scale": float("nan")}, "finite number above 0"),
        ({"kind_workers": -1}, "0 or more"),
        ({"s3_endpoint": "minio:9000"}, "use a URL like http://"),
        ({"kind_image_archive": [Path("/nonexistent/image.tar")]}, "no such file"),
        ({"context": "x"}, "go with --cluster existing"),
        ({"s3_server": "in-cluster", "s3_endpoint": "http://192.0.2.10:9000"}, "drop --s3-endpoint"),
        ({"lab_page": [Path("/nonexistent/page.md")]}, "no such file"),
        ({"lab_source": Path("/nonexistent/workshop")}, "no such directory"),
        ({"lab_source": Path(__file__).parent}, "not a workshop checkout the suite knows"),
        ({"lab_page": [Path(__file__)]}, "no front matter"),
        ({"lab_module": [Path("/nonexistent/module")]}, r"^--lab-module /nonexistent/module: not a folder$"),
        ({"lab_module": [Path(__file__).parent]}, r"^--lab-module .*\.py: no front matter|^--lab-module .*: no page with a ```bash block"),
        ({"cluster": "eks", "eks_cluster": "c", "eks_region": "eu-west-1", "s3_server": "in-cluster"}, "drop --s3-server in-cluster"),
        (
            {"s3_driver_chart": "v2.7.0"},
            r"^--s3-driver-chart 'v2\.7\.0' is not a chart version: use a published one like \d+\.\d+\.\d+ \(no leading v\)$",
        ),
        ({"s3_driver_chart": "2.7"}, r"'2\.7' is not a chart version"),
        ({"s3_driver_chart": "3.0.0"}, r"^--s3-driver-chart 3\.0\.0: the suite has values for chart lines 1\.x, 2\.x only"),
        ({"s3_driver_chart": "2.7.0", "s3_server": "external"}, "drop one of them"),
        (
            {"cluster": "eks", "eks_cluster": "c", "eks_region": "eu-west-1", "s3_driver_chart": "2.7.0"},
            "EKS add-on: drop --s3-driver-chart",
        ),
    ],
)
def test_bad_values_name_the_fix(given: dict[str, Any], fix: str) -> None:
    with pytest.raises(pytest.UsageError, match=fix):
        parse(**given)


def test_a_published_driver_chart_is_kept_for_the_install() -> None:
    assert parse().s3_driver_chart is None  # the Go module's chart
    pin = settings.versions()["MOUNTPOINT_S3_CSI_DRIVER_CHART_V2"]
    assert parse(s3_driver_chart=pin).s3_driver_chart == pin


def test_a_malformed_driver_chart_stops_the_run_at_start_up(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(_CONFTEST)
    pytester.makepyfile(test_x="def test_nothing():\n    pass\n")
    result = pytester.runpytest("--s3-driver-chart=latest")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--s3-driver-chart 'latest' is not a chart version: use a published one like *"])


def test_existing_uses_current_context(tmp_path: Path) -> None:
    opts = parse(cluster="existing", kubeconfig=kubeconfig(tmp_path))
    assert (opts.kubeconfig, opts.context) == (tmp_path / "kubeconfig", "ctx-a")


def test_existing_takes_kubeconfig_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = kubeconfig(tmp_path)
    monkeypatch.setenv("KUBECONFIG", f"{path}:/elsewhere")
    assert parse(cluster="existing").kubeconfig == path


def test_existing_missing_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(pytest.UsageError, match=r"does not exist: pass --kubeconfig"):
        parse(cluster="existing", kubeconfig=tmp_path / "nope")


def test_existing_unknown_context_lists_known(tmp_path: Path) -> None:
    with pytest.raises(pytest.UsageError, match=r"'prod' is not in .*one of: ctx-a, ctx-b"):
        parse(cluster="existing", kubeconfig=kubeconfig(tmp_path), context="prod")


def test_existing_without_current_context(tmp_path: Path) -> None:
    with pytest.raises(pytest.UsageError, match="no current-context: pass --context"):
        parse(cluster="existing", kubeconfig=kubeconfig(tmp_path, current=None))


def test_existing_not_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("clusters: [unclosed")
    with pytest.raises(pytest.UsageError, match="not readable YAML"):
        parse(cluster="existing", kubeconfig=bad)


def test_kind_needs_the_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    with pytest.raises(pytest.UsageError, match=r"`kind` not found on PATH: install kind"):
        parse(cluster="kind")


def test_timeouts_scale() -> None:
    opts = parse(timeout_scale=2.0)
    assert opts.timeouts.pv_bound == 2 * settings.Timeouts().pv_bound
    assert opts.timeouts.exec_command == 2 * settings.Timeouts().exec_command
    assert opts.timeouts.of(60) == 120  # a driver's or a page's bound, scaled the same once
    assert opts.timeouts.scaled(1.5).scale == 3.0


def test_aws_bounds_scale_but_not_the_poll() -> None:
    from labkit.eks.provision import EksTimeouts

    scaled = EksTimeouts().scaled(0.5)
    assert scaled.cluster_active == EksTimeouts().cluster_active / 2
    assert scaled.poll == EksTimeouts().poll


def test_lab_tier_without_cluster_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """Asking for the lab without saying where stops before anything runs."""
    pytester.makeconftest(_CONFTEST)
    pytester.makepyfile(test_x="def test_needs_cluster(cluster):\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*the lab tests need a cluster: pass --cluster kind, or --cluster existing*"])


def test_collect_only_needs_no_cluster(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(_CONFTEST)
    pytester.makepyfile(test_x="def test_needs_cluster(cluster):\n    pass\n")
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*test_needs_cluster*"])


def test_unreachable_api_server_is_one_clear_line(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A kubeconfig pointing nowhere ends the run with what it waited for and the fix."""
    pytester.makeconftest(_CONFTEST)
    pytester.makepyfile(test_x="def test_needs_cluster(kube):\n    pass\n")
    path = kubeconfig(tmp_path)
    result = pytester.runpytest("--cluster=existing", f"--kubeconfig={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        ["*the API server of*kubeconfig (context ctx-a) refuses connections (*Connection refused)*is the cluster running*"]
    )
    result.stdout.no_fnmatch_line("*timed out after*")  # refused is told at once, not waited out


_CONFTEST = f"""
import runpy
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
pytest_plugins = runpy.run_path({str(Path(__file__).resolve().parents[2] / "conftest.py")!r})["pytest_plugins"]
"""


@pytest.mark.parametrize(("given", "required"), [("", set()), ("all", {"emptydir", "s3-pv"}), (" s3-pv , ", {"s3-pv"})])
def test_required_variants(given: str, required: set[str]) -> None:
    assert parse(require=given).required == required
