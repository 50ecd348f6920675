"""`go build` of a tool's own small Go module (its gosrc/), cached by a digest of its inputs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from stackbase.ui import ToolError, fmt_duration, say

HEARTBEAT_SECONDS = 60


def inputs_digest(command: str, *extra: str, source: Path) -> str:
    """Digest of go.mod, go.sum and one command's sources: a change to them means a rebuild."""
    digest = hashlib.sha256()
    files = [source / "go.mod", source / "go.sum", *sorted((source / "cmd" / command).glob("*.go"))]
    for path in files:
        digest.update(str(path.relative_to(source)).encode())
        digest.update(path.read_bytes())
    for item in extra:
        digest.update(item.encode())
    return digest.hexdigest()[:16]


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        raise ToolError("`go` is not on PATH: install Go 1.26 or newer and put it on PATH")
    return go


def go_build(package: str, output: Path, ldflags: str, log: Path, label: str, source: Path) -> None:
    """Run one `go build` in `source`, logging to `log` and printing a heartbeat while it runs."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    command = [go_binary(), "build", "-p", "2", "-trimpath", "-ldflags", ldflags, "-o", str(tmp), package]
    started = time.monotonic()
    with log.open("a") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        sink.flush()
        process = subprocess.Popen(command, cwd=source, env=go_env(), stdout=sink, stderr=subprocess.STDOUT)
        while True:
            try:
                code = process.wait(timeout=HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                say(f"           ... still building {label} ({fmt_duration(time.monotonic() - started)})")
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise ToolError(f"go build of {label} failed (see {log}); last lines:\n{tail}")
    tmp.replace(output)
