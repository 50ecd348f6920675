"""The lab across Kubernetes versions: which versions a run means, each run's verdicts read from
its JUnit file, and the one report (a failing version named with its first failing test, and
for each page block that differs somewhere, the versions whose output matches the page)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from labkit import matrix
from labkit.eks import names

PINS = {
    "KUBERNETES_VERSION": "v1.36.3",
    "KUBERNETES_VERSIONS": "v1.34.4,v1.35.4,v1.37.2",
    "EKS_STANDARD_SUPPORT_ENDS": "1.34:2026-12-02,1.35:2027-03-27,1.36:2027-07-30",
}


def test_eks_supported_is_every_minor_in_standard_support_on_the_day() -> None:
    assert matrix.versions("eks-supported", PINS, datetime.date(2026, 12, 2))[0] == ["1.34", "1.35", "1.36", "1.37"]
    assert matrix.versions("eks-supported", PINS, datetime.date(2026, 12, 3))[0] == ["1.35", "1.36", "1.37"], "1.34 ended the day before"
    assert matrix.versions("eks-oldest", PINS, datetime.date(2026, 12, 3))[0] == ["1.35"]


def test_a_newer_minor_without_an_eks_date_is_taken_as_supported_and_named() -> None:
    chosen, notes = matrix.versions("1.34,eks-supported", PINS, datetime.date(2026, 12, 3))
    assert chosen == ["1.34", "1.35", "1.36", "1.37"]
    assert notes == [
        "eks-supported: no EKS end of standard support recorded for 1.37: taken as supported (newer than 1.36); "
        "add its date to EKS_STANDARD_SUPPORT_ENDS"
    ]
    assert matrix.versions("eks-oldest", PINS, datetime.date(2026, 12, 3)) == (["1.35"], notes)
    ended = {**PINS, "EKS_STANDARD_SUPPORT_ENDS": "1.30:2025-07-23"}
    with pytest.raises(ValueError, match="names no version"):
        matrix.versions("eks-supported", ended, datetime.date(2026, 12, 3))


def test_a_list_that_names_nothing_fails_at_once() -> None:
    with pytest.raises(ValueError, match="names no version"):
        matrix.versions("eks-supported", {**PINS, "EKS_STANDARD_SUPPORT_ENDS": "1.30:2025-07-23"}, datetime.date(2026, 12, 3))


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.lab.test_lab" name="test_lab_scenario[s3-pv]"/>
<testcase classname="tests.lab.test_lab" name="test_pod_removal[s3-pv]">{failure}</testcase>
<testcase classname="tests.lab.test_page" name="test_page_replays_as_documented[p]">
<properties><property name="block" value="p.md:12 matches"/><property name="block" value="p.md:30 {block30}"/></properties>
</testcase></testsuite></testsuites>"""


def run(tmp_path: Path, version: str, failure: str = "", block30: str = "matches", code: int = 0) -> matrix.Run:
    junit, log = tmp_path / f"{version}.xml", tmp_path / f"{version}.log"
    junit.write_text(JUNIT.format(failure=failure, block30=block30))
    log.write_text(f"cluster: existing (x)\nKubernetes: v{version}.2\nkubectl: v{version}.2 (/cache/kube-v{version}.2/kubectl)\n")
    found = matrix.Run(version, code, junit)
    found.read(log)
    return found


def test_the_report_names_each_versions_verdict_first_failure_and_where_the_page_matches(tmp_path: Path) -> None:
    runs = [
        run(tmp_path, "1.34", failure='<failure message="pod was not replaced in 120s&#10;more">x</failure>', block30="differs"),
        run(tmp_path, "1.35", block30="differs"),
        run(tmp_path, "1.36"),
    ]
    text = matrix.report(runs, [])
    assert "| *Kubernetes* | v1.34.2 | v1.35.2 | v1.36.2 |" in text
    assert "| *kubectl* | v1.34.2 | v1.35.2 | v1.36.2 |" in text, "what each run says it ran"
    assert "| test_lab::test_pod_removal[s3-pv] | failed | passed | passed |" in text
    assert "| **run** | FAILED | passed | passed |" in text
    assert "- 1.34: first failing: test_lab::test_pod_removal[s3-pv]: pod was not replaced in 120s" in text
    assert "- p.md:30: matches the page on 1.36; not on 1.34 (differs), 1.35 (differs)" in text
    assert "p.md:12" not in text, "a block that matches everywhere is not listed"


def test_a_run_that_stopped_before_its_tests_is_failed_not_green(tmp_path: Path) -> None:
    stopped = matrix.Run("1.33", 1, tmp_path / "missing.xml")
    stopped.read()
    assert stopped.verdict.startswith("FAILED (exit 1")
    assert "- 1.33: the run exited 1 before any test failed" in matrix.report([stopped], [])


def test_each_environment_is_told_the_version_its_own_way(tmp_path: Path) -> None:
    argv, env = matrix.command("localcluster", "1.35", ["--require", "all"], tmp_path / "j.xml")
    assert env == {"LABCLUSTER_KUBERNETES_VERSION": "1.35"}
    assert argv[-4:] == ["--require", "all", "--junitxml", str(tmp_path / "j.xml")]
    argv, env = matrix.command("kind", "1.35", [], tmp_path / "j.xml")
    assert (argv[argv.index("-e") + 1], env) == ("kind", {"LABCLUSTER_KUBERNETES_VERSION": "1.35"})
    argv, env = matrix.command("lab", "v1.35.4", ["--cluster", "eks", "--eks-create"], tmp_path / "j.xml")
    assert (env, argv[-4:-2]) == ({}, ["--eks-kubernetes-version", "1.35"])
    with pytest.raises(ValueError, match="only with --cluster eks --eks-create"):
        matrix.command("lab", "1.35", ["--cluster", "existing"], tmp_path / "j.xml")


def test_on_eks_each_version_is_a_run_of_its_own_that_the_runs_sweep_finds() -> None:
    eks = ["--cluster", "eks", "--eks-create"]
    assert matrix.eks_args("1.35", [*eks, "--run-id", "n1234a1"]) == [*eks, "--run-id", "n1234a1k135", "--eks-kubernetes-version", "1.35"]
    assert matrix.eks_args("v1.37.2", [*eks, "--run-id=n1234a1"])[3] == "--run-id=n1234a1k137"
    assert matrix.eks_args("1.35", [*eks, "--run-id=run"])[3] == "--run-id=runk135"
    assert names.of_run("n1234a1k137", "n1234a1")
    assert names.of_run("n1234a1", "n1234a1")
    assert not names.of_run("n1234a12", "n1234a1"), "attempt 12 of the same workflow run is another run"
    assert not names.of_run("n1234a1k13x", "n1234a1")
    with pytest.raises(
        ValueError, match=r"--run-id 'n123456789a1': at most 8 characters across versions \(each version's run adds 'k135'\)"
    ):
        matrix.eks_args("1.35", [*eks, "--run-id", "n123456789a1"])


def test_the_report_says_how_versions_whose_output_differs_differ_from_each_other(tmp_path: Path) -> None:
    junit = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.lab.test_module" name="test_module_replays_as_the_harness_runs_it[m]"><properties>
<property name="block" value="p.md:12 differs"/><property name="block-diff" value="p.md:12 -Labels: &lt;none&gt;"/>{extra}
</properties></testcase></testsuite></testsuites>"""
    probe = '<property name="block-diff" value="p.md:12 +Liveness: http-get delay=&lt;age&gt; {fmt}"/>'
    runs = []
    for version, fmt in (
        ("1.35", "#success=1 #failure=3"),
        ("1.36", "#success=1 #failure=3"),
        ("1.37", "successThreshold=1 failureThreshold=3"),
    ):
        extra = probe.format(fmt=fmt)
        if version == "1.37":  # a new section of `describe`: its lines in the output's order
            extra += "".join(f'<property name="block-diff" value="p.md:12 +{line}"/>' for line in ("Conditions:", "---- ------"))
        (tmp_path / f"{version}.xml").write_text(junit.format(extra=extra))
        runs.append(matrix.Run(version, 0, tmp_path / f"{version}.xml"))
        runs[-1].read()
    text = matrix.report(runs, [])
    assert "- p.md:12: matches the page on no version; not on 1.35 (differs), 1.36 (differs), 1.37 (differs)" in text
    assert "  - on 1.35, 1.36: `+Liveness: http-get delay=<age> #success=1 #failure=3`" in text
    assert "  - on 1.37: `+Liveness: http-get delay=<age> successThreshold=1 failureThreshold=3`, `+Conditions:`, `+---- ------`" in text
    assert "Labels" not in text, "what every version's output has in common is not a difference between versions"
    runs[2].diffs = runs[0].diffs
    assert "  - on" not in matrix.report(runs, []), "alike versions: nothing to say between them"
