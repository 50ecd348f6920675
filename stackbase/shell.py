"""Running commands: quiet ones that must succeed, and long builds that log to a file."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from stackbase.ui import Progress, ToolError, fmt_duration

HEARTBEAT_SECONDS = 60


def run(
    command: Sequence[str],
    *,
    check: bool = True,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a short command; on failure raise with its stderr (never with `input_text`)."""
    try:
        result = subprocess.run(
            list(command),
            input=input_text,
            capture_output=True,
            text=True,
            env=None if env is None else {**os.environ, **env},
            timeout=timeout,
        )
    except FileNotFoundError:
        raise ToolError(f"`{command[0]}` is missing: install it") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"`{' '.join(command)}` did not finish in {timeout:.0f}s") from None
    if check and result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-5:]
        raise ToolError(f"`{' '.join(command)}` failed (exit {result.returncode}): {' | '.join(detail)}")
    return result


def logged(
    command: Sequence[str],
    log: Path,
    label: str,
    progress: Progress,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> float:
    """Run a long build with its output in `log`, a heartbeat line a minute; returns seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"\n### {label}: {' '.join(command)}\n")
        out.flush()
        try:
            process = subprocess.Popen(
                list(command),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=None if env is None else {**os.environ, **env},
            )
        except FileNotFoundError:
            raise ToolError(f"`{command[0]}` is missing: install its toolchain") from None
        last = started
        while process.poll() is None:
            time.sleep(2)
            if time.monotonic() - last >= HEARTBEAT_SECONDS:
                last = time.monotonic()
                progress.note(f"still building {label} ({fmt_duration(last - started)}; log {log})")
    if process.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise ToolError(f"building {label} failed (exit {process.returncode}); last lines of {log}:\n" + "\n".join(tail))
    return time.monotonic() - started
