"""What the suite stands in for in the workshop's environment, so a page's own command runs
instead of being left out: each stand-in is real (a real AWS CLI against the run's real S3
server) and named in the report next to the command it served.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

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
    script = f"""#!/bin/sh
# The replay's aws: the AWS CLI, for what the suite stands in for only.
for arg in "$@"; do
  case "$arg" in
    -*) continue ;;
    {allowed}) exec {shlex.quote(sys.executable)} -m awscli "$@" ;;
    *) echo "aws $arg: the suite stands in only for aws {allowed.replace("|", ", aws ")}" >&2; exit 1 ;;
  esac
done
exec {shlex.quote(sys.executable)} -m awscli "$@"
"""
    path = folder / "aws"
    path.write_text(script)
    path.chmod(0o755)
    return folder


def served(text: str, stand_ins: Mapping[str, str]) -> list[str]:
    """The stand-ins a command uses (`aws s3` for `aws s3 ls $BUCKET_NAME`)."""
    return [f"{prefix}: {what}" for prefix, what in stand_ins.items() if _uses(text, prefix)]


def _uses(text: str, prefix: str) -> bool:
    program, _, sub = prefix.partition(" ")
    words = text.split()
    return any(word == program and words[i + 1 : i + 2] == [sub] for i, word in enumerate(words))
