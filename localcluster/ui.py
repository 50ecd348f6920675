"""Progress lines and the one error type whose message the CLI prints."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


class ClusterError(Exception):
    """A failure with a one-line message that names the fix."""


def fmt_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Prints ``[step N/M] text (elapsed)`` lines for a multi-step command."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.number = 0
        self.started = time.monotonic()

    def elapsed(self) -> str:
        return fmt_duration(time.monotonic() - self.started)

    def step(self, text: str) -> None:
        self.number += 1
        say(f"[step {self.number}/{self.total}] {text} ({self.elapsed()} elapsed)")

    def note(self, text: str) -> None:
        say(f"           {text} ({self.elapsed()} elapsed)")


def say(text: str) -> None:
    write(sys.stdout, text + "\n")


def warn(text: str) -> None:
    write(sys.stderr, f"warning: {text}\n")


def write(stream: TextIO, text: str) -> None:
    """Print, and keep working when the reader is gone: a runner killed by SIGTERM (tox dies
    at once) closes the pipe it read from, and the clean-up that follows must not stop at
    its first line of output."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        silence(stream.fileno())


def silence(fd: int) -> None:
    """Point a broken output at /dev/null, so later writes (ours and our children's) succeed."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
