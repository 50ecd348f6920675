"""What the suite stands in for in the workshop's environment, so a page's own command runs
instead of being left out: each stand-in is real (a real AWS CLI against the run's real S3
server) and named in the report next to the command it served.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit import mountpoint
from labkit.page import Page
from labkit.settings import ROOT, Timeouts

# Command prefix -> what stands in for it; a page's `aws s3 ...` reaches the run's bucket only.
AWS_S3 = {
    "aws s3": "the AWS CLI against the run's S3 server, with the run's keys",
    "aws s3api": "the AWS CLI against the run's S3 server, with the run's keys",
}


def aws_shim(folder: Path) -> Path:
    """A bin folder whose `aws` is the AWS CLI (its PyPI package, in the suite's Python) for
    the subcommands that have a stand-in, and refuses any other: the endpoint and keys come
    from the replay's environment, so it reaches the run's S3 server and nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    allowed = "|".join(sorted(prefix.split(" ", 1)[1] for prefix in AWS_S3))
    python = shlex.quote(sys.executable)
    script = f"""#!/bin/sh
# The replay's aws: the AWS CLI, for what the suite stands in for only.
for arg in "$@"; do
  case "$arg" in
    -*) continue ;;
    {allowed}) exec {python} -m awscli "$@" ;;
    eks) PYTHONPATH={shlex.quote(str(ROOT))} exec {python} -m labkit.standins "$@" ;;
    *) echo "aws $arg: the suite stands in only for aws {allowed.replace("|", ", aws ")}, and the Mountpoint add-on's aws eks" >&2; exit 1 ;;
  esac
done
exec {python} -m awscli "$@"
"""
    path = folder / "aws"
    path.write_text(script)
    path.chmod(0o755)
    return folder


def served(text: str, stand_ins: Mapping[str, str]) -> list[str]:
    """The stand-ins a command uses (`aws s3` for `aws s3 ls $BUCKET_NAME`)."""
    return [f"{prefix}: {what}" for prefix, what in stand_ins.items() if _uses(text, prefix)]


# `~/environment/eks-workshop`: the workshop environment's checkout of its manifests. The
# replay's home holds a copy of the lab source's, so the page's own `kubectl kustomize
# ~/environment/eks-workshop/... | envsubst | kubectl apply -f-` runs (a copy: a page may write there).
HOME_SPELLINGS = ("~", "$HOME", "${HOME}")  # how a page names its home
ENVIRONMENT_DIR = "environment"
ENVIRONMENT_MANIFESTS = f"~/{ENVIRONMENT_DIR}/eks-workshop"
ENVIRONMENT = {ENVIRONMENT_MANIFESTS: "a copy of the lab source's manifests, in the replay's home"}
_MANIFESTS_PATH = f"(?:{'|'.join(map(re.escape, HOME_SPELLINGS))})/" + re.escape(ENVIRONMENT_MANIFESTS.removeprefix("~/"))
_UNDER_MANIFESTS = re.compile(_MANIFESTS_PATH + r"/([^\s'\"|;&]+)")
_OWN_APPLY = re.compile(r"\bkubectl\b[^|;&]*\b(apply|create|replace|kustomize)\b[^|;&]*" + _MANIFESTS_PATH)


def environment(home: Path, manifests: Path) -> Path:
    """The replay's `~/environment/eks-workshop`: a copy of `manifests`."""
    target = home / ENVIRONMENT_MANIFESTS.removeprefix("~/")
    shutil.copytree(manifests, target, symlinks=True)
    return target


def applies_own(pages: Sequence[Page]) -> bool:
    """Whether the pages apply the lab's objects themselves, from the workshop's manifests."""
    return any(_OWN_APPLY.search(c.text) for page in pages for b in page.blocks for c in b.commands)


def applied_directories(pages: Sequence[Page], manifests: Path) -> list[Path]:
    """The kustomization directories under `manifests` the pages' own applies name."""
    found = []
    for text in (c.text for page in pages for b in page.blocks for c in b.commands if _OWN_APPLY.search(c.text)):
        for relative in _UNDER_MANIFESTS.findall(text):
            directory = (manifests / relative).resolve()
            if directory.is_relative_to(manifests.resolve()) and (directory / "kustomization.yaml").is_file():
                found.append(directory)
    return list(dict.fromkeys(found))


def starts(words: Sequence[str], prefix: str) -> bool:
    """Whether a command's words begin with a stand-in's prefix (`aws eks wait` for `aws eks wait addon-active ...`)."""
    wanted = prefix.split()
    return list(words[: len(wanted)]) == wanted


def _uses(text: str, prefix: str) -> bool:
    if prefix.startswith("~/"):  # a path, also spelt with $HOME
        return any(prefix.replace("~", home, 1) in text for home in HOME_SPELLINGS)
    words = text.split()
    return any(starts(words[i:], prefix) for i in range(len(words)))


# `prepare-environment MODULE`: the workshop's function resets the cluster, applies the module's
# Terraform and exports its `environment_variables` output. The suite has made the module's
# objects and bucket already; its stand-in exports those variables, derived from the module's
# own outputs.tf, with the run's values.
FUNCTION_VARIABLE = "BASH_FUNC_prepare-environment%%"  # how bash passes an exported function
PREPARE_ENVIRONMENT = {"prepare-environment": "the suite's stand-in: the module's variables from its outputs.tf, with the run's values"}
TERRAFORM_OUTPUTS = Path(".workshop") / "terraform" / "outputs.tf"
_OUTPUT = re.compile(r'output\s+"environment_variables"\s*\{.*?value\s*=\s*\{(?P<body>.*?)\n\s*\}', re.S)
_ENTRY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*,?\s*$", re.M)


@dataclass(frozen=True)
class RunFacts:
    """What the run has where the workshop's Terraform would make something."""

    bucket: str | None
    region: str | None
    cluster_name: str
    cluster_version: str


# (expression pattern, what it reads in RunFacts or how it is made) for the outputs modules write.
_DERIVED: tuple[tuple[re.Pattern[str], Callable[[RunFacts, str], str | None]], ...] = (
    (re.compile(r"^(resource\.)?aws_s3_bucket\.\w+\.(id|bucket)$"), lambda f, _: f.bucket),
    (re.compile(r"(^|\.)eks_cluster_id$"), lambda f, _: f.cluster_name),
    (re.compile(r"(^|\.)eks_cluster_version$"), lambda f, _: f.cluster_version),
    (re.compile(r"^data\.aws_region\.\w+\.name$"), lambda f, _: f.region),
    (re.compile(r"(^|\.|_)arn$"), lambda f, key: f"arn:aws:iam::000000000000:role/{key.lower().replace('_', '-')}-stand-in"),
)


def module_variables(text: str) -> dict[str, str]:
    """KEY -> Terraform expression of an outputs.tf's `environment_variables` map."""
    found = _OUTPUT.search(text)
    return {key: value for key, value in _ENTRY.findall(found.group("body"))} if found else {}


def derive(variables: Mapping[str, str], facts: RunFacts) -> tuple[dict[str, str], dict[str, str]]:
    """(exported KEY -> value, left out KEY -> why): a value the run has, an ARN-shaped
    placeholder where only the cloud has one, nothing where the suite cannot tell."""
    exported, left = {}, {}
    for key, expression in variables.items():
        rule = next((make for pattern, make in _DERIVED if pattern.search(expression)), None)
        value = rule(facts, key) if rule else None
        if value is None:
            left[key] = f"no stand-in for {expression}"
        else:
            exported[key] = value
    return exported, left


def prepare_environment(modules: Path | None, facts: RunFacts) -> tuple[str, dict[str, dict[str, str]]]:
    """The bash function that stands in for `prepare-environment` (for an environment variable
    `BASH_FUNC_prepare-environment%%`, so blocks and hooks both have it, as `export -f` gives
    the workshop's), and per module what it leaves out."""
    cases, left_out = [], {}
    found = sorted(modules.rglob(str(TERRAFORM_OUTPUTS))) if modules and modules.is_dir() else []
    for outputs in found:
        assert modules is not None
        name = str(outputs.parent.parent.parent.relative_to(modules))
        exported, left = derive(module_variables(outputs.read_text()), facts)
        left_out[name] = left
        exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in exported.items())
        cases.append(f"    {shlex.quote(name)}) {f'export {exports}' if exports else ':'} ;;")
    body = "\n".join(['case "${1:-}" in', *cases, "    *) : ;;", "esac"])
    note = 'echo "prepare-environment ${1:-}: stood in by the suite (the run made the module\'s objects and bucket)" >&2'
    return f"() {{\n{body}\n{note}\n}}", left_out


def prepared_modules(page: Page) -> list[str]:
    """The modules a page's `prepare-environment MODULE` commands name."""
    return [m for b in page.blocks for c in b.commands for m in re.findall(r"\bprepare-environment\s+([\w./-]+)", c.text)]


# `aws eks create-addon|wait addon-active|describe-addon` for the Mountpoint add-on: the suite
# installed its driver with Helm for the run; the stand-in reports it and waits for it for real.
ADDON_WAIT_VARIABLE = "LAB_ADDON_WAIT_SECONDS"  # the run's (scaled) bound, from the replay's environment
AWS_EKS_ADDON = {
    f"aws eks {verb}": f"the suite's Helm install of the Mountpoint driver (add-on {mountpoint.ADDON}), {what}"
    for verb, what in (
        ("create-addon", "reported as created"),
        ("wait", "waited for until its node DaemonSet is ready"),
        ("describe-addon", "reported as active"),
    )
}


def _option(args: Sequence[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def aws_eks(args: Sequence[str], kubectl: str = "kubectl") -> int:
    """The add-on stand-in's command line: `eks create-addon|wait addon-active|describe-addon ...`."""
    verb = args[1] if len(args) > 1 else ""
    addon = _option(args, "--addon-name")
    if addon != mountpoint.ADDON:
        print(f"aws eks {verb}: the suite stands in only for add-on {mountpoint.ADDON} (not {addon})", file=sys.stderr)
        return 1
    cluster = _option(args, "--cluster-name") or ""
    if verb == "wait":
        timeout = os.environ.get(ADDON_WAIT_VARIABLE) or f"{Timeouts().driver_ready:g}"
        rollout = [
            kubectl,
            "rollout",
            "status",
            f"daemonset/{mountpoint.NODE_DAEMONSET}",
            "-n",
            mountpoint.NAMESPACE,
            f"--timeout={timeout}s",
        ]
        return subprocess.run(rollout, check=False).returncode
    status = {"create-addon": "CREATING", "describe-addon": "ACTIVE"}.get(verb)
    if status is None:
        print(f"aws eks {verb}: the suite stands in only for create-addon, wait addon-active and describe-addon", file=sys.stderr)
        return 1
    print(json.dumps({"addon": {"addonName": addon, "clusterName": cluster, "status": status}}, indent=4))
    return 0


if __name__ == "__main__":
    sys.exit(aws_eks(sys.argv[1:]))
