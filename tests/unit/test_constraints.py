"""CI installs one tested set of Python packages: constraints.txt pins every dependency
pyproject.toml names, inside its range, by name and version only."""

from __future__ import annotations

import configparser
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from labkit.settings import ROOT

CONSTRAINTS = ROOT / "constraints.txt"


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            found[canonicalize_name(name)] = version.strip()
    return found


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return [Requirement(r) for r in [*listed, "tox"]]


def test_every_dependency_is_pinned_inside_its_range() -> None:
    pinned = pins()
    problems = []
    for req in requirements():
        version = pinned.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name} is not pinned")
        elif version not in req.specifier:
            problems.append(f"{req.name}=={version} is outside {req.specifier}")
    assert not problems, "constraints.txt is stale, run .ci/lock: " + "; ".join(problems)


def test_names_and_versions_only() -> None:
    """No index, link or file address: the lock works wherever the registry is mirrored."""
    bad = [
        line
        for line in CONSTRAINTS.read_text().splitlines()
        if line.strip() and not line.startswith("#") and not re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+", line)
    ]
    assert not bad, f"constraints.txt lines that are not NAME==VERSION: {bad}"


def test_ci_and_every_tox_environment_install_from_it() -> None:
    assert "-c constraints.txt tox" in (ROOT / ".ci" / "run").read_text()
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    unconstrained = [
        section
        for section in parser.sections()
        if section.startswith("testenv") and "set_env" in parser[section] and "PIP_CONSTRAINT" not in parser[section]["set_env"]
    ]
    assert "PIP_CONSTRAINT" in parser["testenv"]["set_env"]
    assert not unconstrained, f"tox environments that replace set_env without the constraints: {unconstrained}"


def test_workflows_install_from_it_too() -> None:
    loose = [
        f"{path.name}: {line.strip()}"
        for path in sorted((ROOT / ".github" / "workflows").glob("*.yml"))
        for line in path.read_text().splitlines()
        for part in line.split("&&")
        if re.search(r"pip install\b(?!.*-U pip\s*$)", part) and "-c constraints.txt" not in part
    ]
    assert not loose, f"workflow installs outside constraints.txt: {loose}"
