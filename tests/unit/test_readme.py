"""Every command the READMEs show runs as written: its program is what the set-up line
installs, its tox environment exists, its Python module is in the checkout."""

from __future__ import annotations

import argparse
import configparser
import importlib.util
import os
import re
import shlex
from pathlib import Path

import pytest

from labkit.settings import ROOT

READMES = [ROOT / "README.md", ROOT / "localcluster" / "README.md", ROOT / "s3stack" / "README.md"]
# What the set-up line (`python3 -m venv .venv && ... pip install ... tox`) puts in .venv/bin.
VENV_PROGRAMS = {"python", "python3", "pip", "tox"}


def tox_envs() -> set[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    return {s.removeprefix("testenv:") for s in parser.sections() if s.startswith("testenv:")}


def commands(readme: Path) -> list[str]:
    """The shell lines of the README's sh blocks, continuations joined, comments dropped."""
    out: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", readme.read_text(), re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


CASES = [(readme, line) for readme in READMES for line in commands(readme)]


TOOLS = ("localcluster", "s3stack")


def subcommands(module: str) -> set[str]:
    """The subcommands a tool's argparse parser accepts."""
    parser = importlib.import_module(f"{module}.cli").parser()
    return {name for action in parser._actions if isinstance(action, argparse._SubParsersAction) for name in action.choices}


def problem(words: list[str]) -> str | None:
    """Why one command would not run as written on a fresh checkout, or None."""
    program, args = words[0], words[1:]
    if program.startswith(".venv/bin/"):
        program = program.removeprefix(".venv/bin/")
        if program not in VENV_PROGRAMS:
            return f"the set-up line installs no .venv/bin/{program}"
    if program == "tox" and "-e" in args:
        env = args[args.index("-e") + 1]
        if env not in tox_envs():
            return f"tox.ini has no environment {env}"
        if args[:1] == ["exec"] and "--" in args:
            return problem(args[args.index("--") + 1 :])
    if program.startswith("python") and "-m" in args:
        module = args[args.index("-m") + 1]
        if module not in ("venv", "pip") and importlib.util.find_spec(module) is None:
            return f"no module {module} in the checkout"
        rest = args[args.index("-m") + 2 :]
        if module in TOOLS and rest and rest[0] not in subcommands(module):
            return f"{module} has no subcommand {rest[0]}"
    if program.startswith(".ci/") and not os.access(ROOT / program, os.X_OK):
        return f"{program} is not an executable script"
    return None


@pytest.mark.parametrize(("readme", "line"), CASES, ids=[f"{r.parent.name}/{r.name}:{line[:40]}" for r, line in CASES])
def test_command_runs_as_written(readme: Path, line: str) -> None:
    for part in re.split(r"\s*(?:&&|;)\s*", line):
        words = [w for w in shlex.split(part) if not re.match(r"^[A-Z_]+=", w)]
        if words and words[0] not in ("set", "."):
            why = problem(words)
            assert why is None, f"{readme.relative_to(ROOT)}: `{line}`: {why}"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (".venv/bin/pytest tests/lab --eks-plan", "the set-up line installs no .venv/bin/pytest"),
        (".venv/bin/tox -e nightly", "tox.ini has no environment nightly"),
        (".venv/bin/tox exec -e lab -- python -m fixtures.eks.nothing", "no module fixtures.eks.nothing in the checkout"),
        ("python3 -m s3stack up", "s3stack has no subcommand up"),
    ],
)
def test_the_check_catches_a_broken_command(line: str, why: str) -> None:
    assert problem(shlex.split(line)) == why


def test_the_checks_see_every_readme_block() -> None:
    assert len(CASES) >= 15
