"""Exec: the start-up race is retried within its bound; a command's own failure never is."""

from __future__ import annotations

from typing import Any

import pytest

from labkit import podexec

OK = podexec.ExecResult("p", ("ls",), 0, "a\nb\n", "", 0.1)


def test_success_status_is_exit_zero() -> None:
    assert podexec.exit_code_from_status('{"metadata":{},"status":"Success"}') == 0


def test_nonzero_exit_code_is_read() -> None:
    raw = (
        '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 2",'
        '"reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"2"}]}}'
    )
    assert podexec.exit_code_from_status(raw) == 2


def test_container_not_found_is_the_start_race() -> None:
    raw = '{"status":"Failure","message":"container not found (\\"assets\\")"}'
    with pytest.raises(podexec.ExecStartRace):
        podexec.exit_code_from_status(raw)


def test_missing_binary_is_an_error_not_a_race() -> None:
    raw = '{"status":"Failure","message":"exec: \\"bash\\": executable file not found in $PATH"}'
    with pytest.raises(podexec.ExecError, match="executable file not found") as caught:
        podexec.exit_code_from_status(raw)
    assert not isinstance(caught.value, podexec.ExecStartRace)


def fake_run_once(outcomes: list[Any]) -> tuple[list[int], Any]:
    calls: list[int] = []

    def run_once(*args: Any) -> podexec.ExecResult:
        calls.append(1)
        outcome = outcomes.pop(0) if outcomes else outcomes_last[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    outcomes_last = [outcomes[-1]]
    return calls, run_once


def test_start_race_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    race = podexec.ExecStartRace("unable to upgrade connection: container not found")
    calls, fake = fake_run_once([race, race, OK])
    monkeypatch.setattr(podexec, "run_once", fake)
    assert podexec.run(None, "ns", "p", "c", ["ls"], start_timeout=30, timeout=60) is OK
    assert len(calls) == 3


def test_failed_command_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = podexec.ExecResult("p", ("ls", "/x"), 2, "", "no such file", 0.1)
    calls, fake = fake_run_once([failed])
    monkeypatch.setattr(podexec, "run_once", fake)
    assert podexec.run(None, "ns", "p", "c", ["ls", "/x"], start_timeout=30, timeout=60).exit_code == 2
    assert len(calls) == 1


def test_start_race_gives_up_with_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, fake = fake_run_once([podexec.ExecStartRace("container not found")])
    monkeypatch.setattr(podexec, "run_once", fake)
    with pytest.raises(podexec.ExecError, match=r"did not start within 1s: container not found"):
        podexec.run(None, "ns", "p", "c", ["ls"], start_timeout=1, timeout=60)
    assert len(calls) >= 2


def test_kubectl_line_quotes_like_a_shell() -> None:
    result = podexec.ExecResult("assets-1", ("bash", "-c", "ls /usr/share/nginx/html/assets"), 0, "", "", 0)
    assert result.kubectl("assets") == "kubectl exec assets-1 -n assets -- bash -c 'ls /usr/share/nginx/html/assets'"
