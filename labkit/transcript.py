"""A test's transcript of the lab's steps, as a person would have typed them.

Each step is printed when it ends (so it lands in the captured output, the HTML report
and JUnit's system-out); the plugin (fixtures/transcript.py) attaches the whole to the report.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from labkit import redact


@dataclass
class Step:
    title: str
    command: str
    output: str = ""
    seconds: float = 0.0
    failed: bool = False


@dataclass
class Transcript:
    name: str
    steps: list[Step] = field(default_factory=list)

    def __repr__(self) -> str:  # the steps are in the report; keep tracebacks short
        return f"<Transcript {self.name}: {len(self.steps)} steps>"

    @contextmanager
    def step(self, title: str, command: str) -> Iterator[Step]:
        """Time a step; the body fills `step.output`. A step that raises is marked failed."""
        step = Step(title, command)
        started = time.monotonic()
        try:
            yield step
        except BaseException:
            step.failed = True
            raise
        finally:
            step.seconds = time.monotonic() - started
            self.record(step)

    def note(self, title: str, command: str, output: str, seconds: float) -> None:
        """A step that was timed elsewhere (an exec reports its own duration)."""
        self.record(Step(title, command, output, seconds))

    def record(self, step: Step) -> None:
        self.steps.append(step)
        print(self.format(step), flush=True)

    @staticmethod
    def format(step: Step) -> str:
        mark = " FAILED" if step.failed else ""
        head = f"## {step.title} ({step.seconds:.1f}s){mark}\n$ {step.command}"
        body = step.output.rstrip()
        return redact.text(f"{head}\n{body}\n" if body else f"{head}\n")

    def text(self) -> str:
        return "\n".join(self.format(step) for step in self.steps)
