"""Progress lines and the one error type whose message the CLI prints."""

from __future__ import annotations

import sys
import time


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
    print(text, flush=True)


def warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)
