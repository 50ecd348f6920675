"""The GitHub workflows: a pull request that changes anything the checks depend on runs them, and
the pins the workflows use are read from versions.env, never spelled a second time."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from labkit import settings
from labkit.settings import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
# What cannot change what the checks do: docs. Anything else in the tree is the checks' input.
IGNORABLE = ("*.md", ".gitignore")


def load(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: {}}
    if isinstance(on, list):
        return {event: {} for event in on}
    return {event: config or {} for event, config in (on or {}).items()}


def glob_regex(pattern: str) -> re.Pattern[str]:
    """GitHub's filter glob: `**` crosses `/`, `*` does not, `?` and `+` quantify the character before."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] in "?+":
            out, i = out + pattern[i], i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def selected(path: str, patterns: list[str]) -> bool:
    """The last pattern that matches decides; `!` excludes."""
    chosen = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if glob_regex(pattern.removeprefix("!")).fullmatch(path):
            chosen = not negated
    return chosen


def triggering(path: str, config: dict[str, Any]) -> bool:
    """Whether a change of `path` alone runs the workflow for this event."""
    if "paths" in config:
        return selected(path, config["paths"])
    if "paths-ignore" in config:
        return not selected(path, config["paths-ignore"])
    return True


def ignored_by_git(relative: str, patterns: list[str]) -> bool:
    parts = relative.split("/")
    for pattern in patterns:
        name = pattern.strip("/")
        if "/" in name:
            if fnmatch.fnmatch(relative, name) or relative.startswith(name + "/"):
                return True
        elif any(fnmatch.fnmatch(part, name) for part in parts):
            return True
    return False


def tree_files(root: Path = ROOT) -> list[str]:
    """Every file of the checkout that git would track (.gitignore applied), relative to `root`.
    `.git` is git's own: a folder in a clone, a file in a worktree."""
    patterns = [line.strip() for line in (root / ".gitignore").read_text().splitlines() if line.strip() and not line.startswith("#")]
    files: list[str] = []
    for directory, dirs, names in os.walk(root):
        base = Path(directory).relative_to(root).as_posix()
        prefix = "" if base == "." else f"{base}/"
        dirs[:] = sorted(d for d in dirs if d != ".git" and not ignored_by_git(prefix + d, patterns))
        files += [prefix + name for name in sorted(names) if name != ".git" and not ignored_by_git(prefix + name, patterns)]
    return files


def uncovered(config: dict[str, Any], files: list[str]) -> dict[str, list[str]]:
    """Top-level entries with a file the filter lets change without a run, and those files."""
    missed: dict[str, list[str]] = {}
    for path in files:
        if any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], doc) for doc in IGNORABLE):
            continue
        if not triggering(path, config):
            top = path.split("/", 1)[0] + ("/" if "/" in path else "")
            missed.setdefault(top, []).append(path)
    return missed


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_a_change_to_anything_the_checks_read_runs_the_workflow(workflow: Path) -> None:
    files = tree_files()
    for event, config in triggers(load(workflow)).items():
        missed = uncovered(config, files)
        named = "; ".join(f"{top} (e.g. {paths[0]})" if top.endswith("/") else top for top, paths in sorted(missed.items()))
        assert not missed, f"{workflow.name}: a change to {named} runs no `{event}` check: add it to the paths filter"


def test_the_tree_walk_sees_the_packages_and_not_what_git_ignores() -> None:
    tops = {path.split("/", 1)[0] for path in tree_files()}
    packages = {"labkit", "fixtures", "tests", "stackbase", "localcluster", "s3stack", "kindstack"}
    assert {*packages, ".ci", "versions.env", "constraints.txt"} <= tops
    assert not tops & {".git", ".venv", ".tox", "build", "reports"}


@pytest.mark.parametrize(
    ("path", "patterns", "expected"),
    [
        ("labkit/helm.py", ["fixtures/**", "labkit/**"], True),
        ("s3stack/mount-s3/src/main.rs", ["s3stack/**"], True),
        ("labkit/helm.py", ["fixtures/**", "kindstack/**"], False),
        ("conftest.py", ["*.py"], True),
        ("labkit/helm.py", ["*.py"], False),  # `*` stays at the root
        ("labkit/helm.py", ["labkit/**", "!labkit/*.py"], False),
        ("tox.ini", ["tox.ini"], True),
        ("tox_ini", ["tox.ini"], False),
    ],
)
def test_the_filter_glob_reads_patterns_as_github_does(path: str, patterns: list[str], expected: bool) -> None:
    assert selected(path, patterns) is expected


def test_a_new_package_fails_the_coverage_until_the_filter_names_it(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("build/\n")
    (tmp_path / ".git").write_text("gitdir: /elsewhere\n")  # a worktree's
    for name in ("labkit/helm.py", "newtool/go.mod", "newtool/README.md", "build/x.py", "README.md", "Cargo.lock"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    config = {"paths": ["labkit/**"]}
    assert uncovered(config, tree_files(tmp_path)) == {"newtool/": ["newtool/go.mod"], "Cargo.lock": ["Cargo.lock"]}
    assert uncovered({"paths": ["labkit/**", "newtool/**", "Cargo.lock"]}, tree_files(tmp_path)) == {}


def kind_job() -> dict[str, Any]:
    job: dict[str, Any] = load(ROOT / ".github" / "workflows" / "pr.yml")["jobs"]["kind"]
    return job


def step(job: dict[str, Any], **match: str) -> dict[str, Any]:
    found = [s for s in job["steps"] if all(str(s.get(k, "")).startswith(v) for k, v in match.items())]
    assert len(found) == 1, f"the kind job has {len(found)} steps with {match}"
    chosen: dict[str, Any] = found[0]
    return chosen


def step_outputs(job: dict[str, Any], step_id: str, tmp_path: Path) -> dict[str, str]:
    """What the step writes to $GITHUB_OUTPUT, run as the runner would (bash, from the checkout)."""
    output = tmp_path / "github-output"
    output.write_text("")
    script = step(job, id=step_id)["run"]
    subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, env={**os.environ, "GITHUB_OUTPUT": str(output)}, check=True, timeout=30)
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def test_the_kind_job_takes_helm_and_the_driver_chart_from_versions_env(tmp_path: Path) -> None:
    job = kind_job()
    pins = step_outputs(job, "pins", tmp_path)
    assert pins == {"helm": settings.versions()["HELM_VERSION"], "chart": settings.versions()["MOUNTPOINT_S3_CSI_DRIVER_CHART_V2"]}
    assert step(job, uses="azure/setup-helm@")["with"]["version"] == "${{ steps.pins.outputs.helm }}"
    tox = step(job, name="tox -e kind")
    assert tox["env"]["DRIVER_CHART"] == "${{ steps.pins.outputs.chart }}"
    assert '--s3-driver-chart "$DRIVER_CHART"' in tox["run"]


def test_the_kind_job_loads_the_s3_server_pulled_by_its_digest() -> None:
    job = kind_job()
    pull = step(job, name="Pull the S3 server image by digest")["run"]
    assert "settings.s3_server_image_by_digest()" in pull
    assert 'docker pull "$pinned"' in pull
    assert 'docker save --output "$RUNNER_TEMP/s3-server.tar" "$tag"' in pull
    assert '--kind-image-archive "$RUNNER_TEMP/s3-server.tar"' in step(job, name="tox -e kind")["run"]


def test_the_kind_job_runs_every_minor_eks_supports_in_one_report() -> None:
    words = shlex.split(step(kind_job(), name="tox -e kind")["run"])
    assert words[:3] == ["python", "-m", "labkit.matrix"], "one run per minor, one report"
    options, _, suite = " ".join(words[3:]).partition(" -- ")
    assert options.split() == ["--env", "kind", "--kubernetes-version", "eks-supported"]
    assert "--require all" in suite, "both variants must run on every minor"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_no_workflow_spells_a_pin_of_versions_env(workflow: Path) -> None:
    text = workflow.read_text()
    spelled = [f"{key}={value}" for key, value in settings.versions().items() if len(value) >= 5 and value in text]
    assert not spelled, f"{workflow.name} spells {', '.join(spelled)}: read it from versions.env (as the kind job's pins step does)"


def test_the_nightly_sweep_outlives_a_cancelled_lab_and_deletes() -> None:
    """A cancelled or timed-out lab job is stopped within minutes; deleting a cluster takes far
    longer, so the sweep is a job of its own that runs after the lab whatever happened to it."""
    jobs = load(ROOT / ".github" / "workflows" / "nightly.yml")["jobs"]
    lab = [job for job in jobs.values() if any("--eks-create" in step.get("run", "") for step in job["steps"])]
    assert len(lab) == 1
    assert not any("sweeper" in step.get("run", "") for step in lab[0]["steps"]), "the sweep is not a step the lab's cancellation stops"
    (lab_name,) = [name for name, job in jobs.items() if job is lab[0]]
    sweeps = [job for job in jobs.values() if any("labkit.eks.sweeper" in step.get("run", "") for step in job["steps"])]
    assert len(sweeps) == 1
    sweep = sweeps[0]
    assert lab_name in sweep["needs"]
    assert "always()" in sweep["if"], "it runs after a failed, cancelled or timed-out lab"
    assert sweep["timeout-minutes"] >= 60, "long enough for a cluster that is still being created, then its deletes"
    runs = [step["run"] for step in sweep["steps"] if "labkit.eks.sweeper" in step.get("run", "")]
    assert len(runs) == 2
    assert all("--delete" in run for run in runs), "this run's leftovers and older ones are deleted, not only listed"
    assert any("--ttl 6h" in run for run in runs)
