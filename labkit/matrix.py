"""The lab across Kubernetes versions in one run, one report.

    python -m labkit.matrix --kubernetes-version 1.35,1.36 -- --require all --lab-page PAGE.md
    python -m labkit.matrix --kubernetes-version eks-oldest --env kind -- --require all
    python -m labkit.matrix --kubernetes-version eks-supported --env lab -- --cluster eks --eks-create --region R

Each version is a whole run of one tox environment (its cluster made for that version and taken
down before the next, sequentially): `localcluster` and `kind` build the release with
$LABCLUSTER_KUBERNETES_VERSION (Kubernetes, its etcd and kubectl of the same release; kind's node
image also CoreDNS and etcd as that release's kubeadm runs them), `lab` with `--cluster eks`
creates its EKS cluster with `--eks-kubernetes-version` (and a run id of its own: `--run-id X`
becomes X, `k`, the minor's digits, which the sweeper's `--run-id X` finds). Each run's JUnit file
goes to `reports/matrix/<version>/`; the report (`reports/matrix/matrix.md`) is one table of
verdicts per version, the first failing test of each failing version with its cause, and for
every page block that differs on some version, the versions whose output matches the page.

Which minors `eks-supported` means is data: EKS's end of standard support per minor,
`EKS_STANDARD_SUPPORT_ENDS` in versions.env; `eks-oldest` is the oldest of them.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labkit import settings, tools
from labkit.eks import names

ENVS = ("localcluster", "kind", "lab")
EKS_SUPPORTED = "eks-supported"
EKS_OLDEST = "eks-oldest"  # the oldest of those: what CI runs beside the pin
FAILED = ("failure", "error")
SEEN = ("Kubernetes", "kubectl")  # lines of the run's terminal summary


def _key(minor: str) -> tuple[int, ...]:
    return tuple(int(part) for part in minor.lstrip("v").split("."))


def eks_standard_support(pins: dict[str, str]) -> dict[str, datetime.date]:
    """Minor -> the last day of EKS standard support, from versions.env."""
    ends = {}
    for item in filter(None, pins.get("EKS_STANDARD_SUPPORT_ENDS", "").split(",")):
        minor, _, day = item.partition(":")
        ends[minor] = datetime.date.fromisoformat(day)
    return ends


def versions(asked: str, pins: dict[str, str], today: datetime.date) -> tuple[list[str], list[str]]:
    """(the versions to run, notes): a comma list of minors or releases; `eks-supported` is every
    minor EKS still supports in standard support today, by the data, and the pinned minors newer
    than the data's newest (EKS dates a minor when it offers it)."""
    notes: list[str] = []
    chosen: list[str] = []
    for item in (i.strip() for i in asked.split(",") if i.strip()):
        if item not in (EKS_SUPPORTED, EKS_OLDEST):
            chosen.append(item)
            continue
        ends = eks_standard_support(pins)
        supported = sorted((m for m, end in ends.items() if end >= today), key=_key)
        known = {settings.minor(v) for v in [pins["KUBERNETES_VERSION"], *pins.get("KUBERNETES_VERSIONS", "").split(",")] if v}
        # A minor newer than every dated one is in support whenever one of those is: it came later.
        newer = sorted((m for m in known - set(ends) if supported and _key(m) > _key(max(ends, key=_key))), key=_key)
        if newer:
            notes.append(
                f"{EKS_SUPPORTED}: no EKS end of standard support recorded for {', '.join(newer)}: taken as supported (newer than "
                f"{max(ends, key=_key)}); add {'their dates' if len(newer) > 1 else 'its date'} to EKS_STANDARD_SUPPORT_ENDS"
            )
        chosen += supported[:1] if item == EKS_OLDEST else [*supported, *newer]
    if not chosen:
        raise ValueError(f"--kubernetes-version {asked!r} names no version (EKS_STANDARD_SUPPORT_ENDS lists none in support today)")
    return sorted(dict.fromkeys(chosen), key=_key), notes


@dataclass
class Run:
    version: str
    code: int
    junit: Path
    # test id -> "passed", "skipped", "failed: first line"
    tests: dict[str, str] = field(default_factory=dict)
    # "page.md:LINE" -> verdict
    blocks: dict[str, str] = field(default_factory=dict)
    # "page.md:LINE" -> the lines its output differs from the page by ("-documented", "+live")
    diffs: dict[str, list[str]] = field(default_factory=dict)  # in the diff's order
    # What the run's summary says it ran on: "Kubernetes", "kubectl".
    seen: dict[str, str] = field(default_factory=dict)

    def read(self, log: Path | None = None) -> None:
        for line in log.read_text(errors="replace").splitlines() if log and log.is_file() else []:
            key, _, value = line.partition(": ")
            if key in SEEN and key not in self.seen:
                self.seen[key] = value.split(" (")[0].strip()
        if not self.junit.is_file():
            return
        for case in ET.parse(self.junit).iter("testcase"):
            name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
            outcome = "passed"
            for child in case:
                if child.tag in FAILED:
                    first = (child.get("message") or child.text or "").strip().splitlines()
                    outcome = f"failed: {first[0] if first else child.tag}"
                elif child.tag == "skipped":
                    outcome = "skipped"
            self.tests[name] = outcome
            for prop in case.iter("property"):
                where, _, value = (prop.get("value") or "").partition(" ")
                if prop.get("name") == "block":
                    self.blocks[where] = value
                elif prop.get("name") == "block-diff":
                    self.diffs.setdefault(where, []).append(value)

    @property
    def verdict(self) -> str:
        if any(o.startswith("failed") for o in self.tests.values()):
            return "FAILED"
        if self.code != 0:
            return f"FAILED (exit {self.code}, no failing test: see its log)"
        return "passed" if self.tests else "no test ran"


def report(runs: Sequence[Run], notes: Sequence[str]) -> str:
    """The one report: verdicts per version, first failures, where page output differs."""
    head = ["test", *[r.version for r in runs]]
    lines = [*(f"> {n}" for n in notes), "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in SEEN:
        lines.append(f"| *{key}* | " + " | ".join(r.seen.get(key, "?") for r in runs) + " |")
    names = list(dict.fromkeys(name for r in runs for name in r.tests))
    for name in names:
        cells = [r.tests.get(name, "-").split(":", 1)[0] for r in runs]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| **run** | " + " | ".join(r.verdict for r in runs) + " |")
    lines.append("")
    for r in runs:
        failing = next(((n, o) for n, o in r.tests.items() if o.startswith("failed")), None)
        if failing:
            lines.append(f"- {r.version}: first failing: {failing[0]}: {failing[1].removeprefix('failed: ')}")
        elif r.code != 0:
            lines.append(f"- {r.version}: the run exited {r.code} before any test failed (a set-up or build step: see its log)")
    blocks = list(dict.fromkeys(b for r in runs for b in r.blocks))
    differing = [b for b in blocks if any(r.blocks.get(b) not in (None, "matches", "not compared") for r in runs)]
    if differing:
        lines += ["", "Page blocks whose output differs on some version:"]
    for block in differing:
        matching = [r.version for r in runs if r.blocks.get(block) == "matches"]
        other = [f"{r.version} ({r.blocks[block]})" for r in runs if r.blocks.get(block) not in (None, "matches")]
        lines.append(f"- {block}: matches the page on {', '.join(matching) or 'no version'}; not on {', '.join(other)}")
        lines += [f"  - {line}" for line in _between_versions(block, [r for r in runs if r.blocks.get(block) == "differs"])]
    return "\n".join(lines) + "\n"


def _between_versions(block: str, differing: list[Run], most: int = 3) -> list[str]:
    """How the versions whose output differs from the page differ from each other: the lines of
    each group of alike versions that not all of them have."""
    groups: dict[frozenset[str], tuple[list[str], list[str]]] = {}  # lines -> (in order, versions)
    for r in differing:
        groups.setdefault(frozenset(r.diffs.get(block, ())), (r.diffs.get(block, []), []))[1].append(r.version)
    if len(groups) < 2:
        return []
    common = frozenset.intersection(*groups)
    found = []
    for ordered, versions in groups.values():
        own = list(dict.fromkeys(line for line in ordered if line not in common))
        shown = ", ".join(f"`{line}`" for line in own[:most]) + (f" (and {len(own) - most} more)" if len(own) > most else "")
        found.append(f"on {', '.join(versions)}: {shown or 'no line of its own'}")
    return found


def run_id_option(args: Sequence[str]) -> tuple[int, str] | None:
    """Where the suite's `--run-id` is in `args` (the index of the word that holds it) and its value."""
    for i, arg in enumerate(args):
        if arg.startswith("--run-id="):
            return i, arg.partition("=")[2]
        if arg == "--run-id" and i + 1 < len(args):
            return i + 1, args[i + 1]
    return None


def eks_args(version: str, args: list[str]) -> list[str]:
    """One version's arguments on EKS: its own cluster (the run id made the version's) at its minor."""
    if "--eks-create" not in args:
        raise ValueError("--env lab runs across versions only with --cluster eks --eks-create (a cluster made per version)")
    mine = list(args)
    found = run_id_option(mine)
    if found:
        at, asked = found
        own = names.version_run_id(asked, version)
        if len(own) > settings.RUN_ID_LENGTH:
            raise ValueError(
                f"--run-id {asked!r}: at most {settings.RUN_ID_LENGTH - len(own) + len(asked)} characters across versions "
                f"(each version's run adds {own[len(asked) :]!r})"
            )
        mine[at] = f"--run-id={own}" if mine[at].startswith("--run-id=") else own
    return [*mine, "--eks-kubernetes-version", settings.minor(version)]


def command(env: str, version: str, args: list[str], junit: Path) -> tuple[list[str], dict[str, str]]:
    """One version's run: the tox environment's own command, told the version its way."""
    tox = str(Path(sys.executable).with_name("tox")) if Path(sys.executable).with_name("tox").is_file() else "tox"
    extra = ["--junitxml", str(junit)]
    if env == "lab":
        return [tox, "-e", env, "--", *eks_args(version, args), *extra], {}
    return [tox, "-e", env, "--", *args, *extra], {tools.KUBERNETES_RELEASE_ENV: version}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labkit.matrix", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kubernetes-version", required=True, help=f"comma list of minors or releases (1.35,v1.36.3), {EKS_SUPPORTED} or {EKS_OLDEST}"
    )
    parser.add_argument(
        "--env", choices=ENVS, default="localcluster", help="the tox environment each version runs in (default %(default)s)"
    )
    parser.add_argument("--reports", type=Path, default=Path("reports/matrix"))
    parser.add_argument("args", nargs="*", help="after --: the environment's own arguments (as after `tox -e ENV --`)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    pins = settings.versions()
    try:
        chosen, notes = versions(args.kubernetes_version, pins, datetime.date.today())
    except ValueError as err:
        print(f"matrix: error: {err}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"matrix: {note}")
    shutil.rmtree(args.reports, ignore_errors=True)
    runs = []
    for version in chosen:
        folder = (args.reports / version).resolve()
        folder.mkdir(parents=True)
        try:
            argv_, env = command(args.env, version, list(args.args), folder / "junit.xml")
        except ValueError as err:
            print(f"matrix: error: {err}", file=sys.stderr)
            return 2
        print(f"matrix: Kubernetes {version}: {' '.join(argv_)}", flush=True)
        with open(folder / "run.log", "w") as log:
            code = subprocess.run(argv_, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
        run = Run(version, code, folder / "junit.xml")
        run.read(folder / "run.log")
        runs.append(run)
        print(f"matrix: Kubernetes {version}: {run.verdict} (log {folder / 'run.log'})", flush=True)
    text = report(runs, notes)
    (args.reports / "matrix.md").write_text(text)
    print(text)
    return 0 if all(r.verdict == "passed" for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
