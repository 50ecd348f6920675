"""The lab page itself (--lab-page FILE.md): every command runs on the cluster in order, and
what the page shows under each command is what the cluster shows."""

from __future__ import annotations

import pytest

from fixtures.options import get
from fixtures.pages import report_properties, transcript_steps
from labkit.replay import PageRun
from labkit.transcript import Transcript


def test_page_replays_as_documented(page_run: PageRun, transcript: Transcript, request: pytest.FixtureRequest) -> None:
    request.node.user_properties += report_properties(page_run, get(request.config).run_id)
    for result in page_run.results:
        for title, command, output in transcript_steps(result):
            transcript.note(f"block at line {result.block.line}, {title}", command, output, result.seconds)
    failures = page_run.failures()
    assert not failures, f"{page_run.page.path}: " + "; ".join(failures)
    print(f"{page_run.page.path}: {page_run.summary()}")
    if get(request.config).page_strict:
        differing = [f"line {r.block.line}" for r in page_run.differences()]
        assert not differing, f"{page_run.page.path}: blocks at {', '.join(differing)} differ from what the page documents (--page-strict)"
