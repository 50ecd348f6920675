"""A lab module (--lab-module DIR), replayed as the workshop's harness runs it: pages in its
order, each block between its authors' hooks, each folder between its suite hooks."""

from __future__ import annotations

import pytest

from fixtures.options import get
from fixtures.pages import report_properties, transcript_steps
from labkit.module import ModuleRun
from labkit.transcript import Transcript


def test_module_replays_as_the_harness_runs_it(module_run: ModuleRun, transcript: Transcript, request: pytest.FixtureRequest) -> None:
    def note_suite_hooks(phase: str) -> None:
        for hook in (h for h in module_run.suite_hooks if h.phase == phase):
            output = (hook.stdout + hook.stderr).rstrip() or "(no output)"
            transcript.note(f"{hook.script.parent.parent.name}: suite hook {phase}", f"bash {hook.script} {phase}", output, hook.seconds)

    note_suite_hooks("before")
    for page_run in module_run.pages:
        request.node.user_properties += report_properties(page_run, get(request.config).run_id)
        if page_run.not_run:
            transcript.note(page_run.page.path.name, "(not run)", page_run.not_run, 0.0)
        for result in page_run.results:
            for title, command, output in transcript_steps(result):
                transcript.note(f"{page_run.page.path.name}, block at line {result.block.line}, {title}", command, output, result.seconds)
    note_suite_hooks("after")
    print(f"{module_run.root.path}: {module_run.verdict()}")
    failures = module_run.failures()
    assert not failures, f"{module_run.root.path}: {module_run.verdict()}: " + "; ".join(failures)
