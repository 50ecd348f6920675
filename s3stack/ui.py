"""Progress lines and the one error type whose message the CLI prints."""

from __future__ import annotations

import sys
import time


class StackError(Exception):
    """A failure with a one-line message that names the cause or the fix."""


def fmt_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Prints ``[s3stack] text (elapsed)`` lines."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> str:
        return fmt_duration(time.monotonic() - self.started)

    def note(self, text: str) -> None:
        say(f"[s3stack] {text} ({self.elapsed()} elapsed)")


def say(text: str) -> None:
    print(text, flush=True)


def warn(text: str) -> None:
    print(f"s3stack: warning: {text}", file=sys.stderr, flush=True)
