"""Progress lines and the one error type whose message a tool's command line prints."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


class ToolError(Exception):
    """A failure with a one-line message that names the fix."""


def fmt_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """``[step N/M] text (elapsed)`` lines for a multi-step command, and notes between them.

    A note is indented under the step it belongs to; with a `tag` it reads ``[tag] text
    (elapsed)`` instead, so a tool whose lines appear inside another's run stays recognisable."""

    def __init__(self, total: int = 0, tag: str = "") -> None:
        self.total = total
        self.tag = tag
        self.number = 0
        self.started = time.monotonic()

    def elapsed(self) -> str:
        return fmt_duration(time.monotonic() - self.started)

    def step(self, text: str) -> None:
        self.number += 1
        prefix = f"[{self.tag}] " if self.tag else ""
        say(f"{prefix}[step {self.number}/{self.total}] {text} ({self.elapsed()} elapsed)")

    def note(self, text: str) -> None:
        prefix = f"[{self.tag}]" if self.tag else "          "
        say(f"{prefix} {text} ({self.elapsed()} elapsed)")


def say(text: str) -> None:
    write(sys.stdout, text + "\n")


def warn(text: str, tag: str = "") -> None:
    write(sys.stderr, f"{tag + ': ' if tag else ''}warning: {text}\n")


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
