"""Waits are bounded and say what they saw; secrets never reach text the suite writes."""

from __future__ import annotations

import pytest

from fixtures.transcript import Transcript
from labkit import redact
from labkit.waiting import NotYet, WaitTimeout, until


def test_until_returns_when_ready() -> None:
    states = iter(["a", "b", "ready"])

    def probe() -> str:
        state = next(states)
        if state != "ready":
            raise NotYet(f"state {state}")
        return state

    assert until("x", probe, timeout=5, interval=0.01) == "ready"


def test_timeout_names_condition_bound_and_last_state() -> None:
    def probe() -> None:
        raise NotYet("2/3 replicas ready")

    with pytest.raises(WaitTimeout, match=r"timed out after 0.2s waiting for the rollout; last seen: 2/3 replicas ready"):
        until("the rollout", probe, timeout=0.2, interval=0.05)


def test_other_errors_are_not_waited_away() -> None:
    calls = []

    def probe() -> None:
        calls.append(1)
        raise ValueError("wrong answer")

    with pytest.raises(ValueError, match="wrong answer"):
        until("x", probe, timeout=5, interval=0.01)
    assert len(calls) == 1


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    redact.add("session-token-123456")
    raw = "key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY token session-token-123456 Authorization: Bearer abcdefghijklmnop"
    out = redact.text(raw)
    assert "wJalrXUtnFEMI" not in out
    assert "session-token-123456" not in out
    assert "abcdefghijklmnop" not in out
    assert out.count(redact.MASK) == 3


def test_transcript_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "supersecretvalue42")
    record = Transcript("t")
    record.note("list", "kubectl exec p -- env", "AWS_SECRET_ACCESS_KEY=supersecretvalue42", 0.2)
    assert "supersecretvalue42" not in record.text()


def test_failed_step_is_marked() -> None:
    record = Transcript("t")
    with pytest.raises(RuntimeError), record.step("touch", "kubectl exec ..."):
        raise RuntimeError("boom")
    assert record.steps[0].failed
    assert "FAILED" in record.text()
