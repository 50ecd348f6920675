"""Waits are bounded and say what they saw; secrets never reach text the suite writes."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from labkit import redact
from labkit.s3server import Keys
from labkit.transcript import Transcript
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


SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY/EXAMPLEKEY"


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(lambda s: s, id="as is"),
        pytest.param(lambda s: base64.b64encode(s.encode()).decode(), id="base64"),
        pytest.param(lambda s: base64.urlsafe_b64encode(s.encode()).decode(), id="base64url"),
        pytest.param(lambda s: base64.b64encode(json.dumps({"k": s}).encode()).decode(), id="inside longer base64"),
        pytest.param(lambda s: base64.b64encode(b"xy" + s.encode()).decode(), id="base64 at an offset"),
        pytest.param(lambda s: urllib.parse.quote(s, safe=""), id="url-encoded"),
        pytest.param(lambda s: json.dumps(s).replace("/", "\\/"), id="json-escaped"),
        pytest.param(lambda s: s[:15] + "\n    " + s[15:30] + "\\\n" + s[30:], id="split over lines"),
    ],
)
def test_a_known_secret_is_masked_in_every_spelling(spelling: Callable[[str], str]) -> None:
    redact.add(SECRET)
    shown = spelling(SECRET)
    out = redact.text(f"before {shown} after")
    assert redact.MASK in out, out
    survived = [shown[i : i + 16] for i in range(len(shown) - 15) if shown[i : i + 16] in out]
    assert not survived, out


@pytest.mark.parametrize(
    "line",
    [
        "    token: eyJhbGciOiJSUzI1NiIsImtpZCI6Ik",
        "    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t",
        "{'X-Amz-Security-Token': b'IQoJb3JpZ2luX2VjEJr//////////wEaCXVz'}",
        "https://s3/?X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F&X-Amz-Signature=0123456789abcdef0123",
        "aws_secret_access_key = AbCdEfGhIjKlMnOpQrStUvWxYz",
        '{"SecretAccessKey": "AbCdEfGhIjKlMnOpQrStUvWxYz"}',
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yRxdsfrBqMGDLjsHTQ\n-----END EC PRIVATE KEY-----",
    ],
)
def test_a_secret_is_masked_by_its_shape(line: str) -> None:
    out = redact.text(line)
    for value in re.findall(r"[A-Za-z0-9+/%]{20,}", line):
        assert value not in out, out


def test_the_kubeconfigs_credentials_are_known(tmp_path: Path) -> None:
    key = base64.b64encode(b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIEXAMPLEkeyMaterialLine1234\n-----END EC PRIVATE KEY-----\n").decode()
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(yaml.safe_dump({"users": [{"name": "u", "user": {"token": "sha256~runTokenValue123", "client-key-data": key}}]}))
    redact.add_kubeconfig(kubeconfig)
    out = redact.text("the token is sha256~runTokenValue123 and the key line MHcCAQEEIEXAMPLEkeyMaterialLine1234")
    assert "runTokenValue123" not in out
    assert "EXAMPLEkeyMaterial" not in out


def test_keys_have_no_printable_repr() -> None:
    keys = Keys.generate()
    for shown in (repr(keys), str(keys), repr([keys])):
        assert keys.access_key_id not in shown
        assert keys.secret_access_key not in shown
    assert repr(keys) == "Keys(access_key_id=***, secret_access_key=***)"


def test_no_secret_reaches_a_report(pytester: pytest.Pytester) -> None:
    """A fixture holding the run's keys fails (as a 403 creating the driver's Secret would)
    while botocore logs a security token at DEBUG: stdout, JUnit and HTML stay clean."""
    leak = pytester.path / "leak.txt"
    pytester.makepyfile(
        test_leak=f"""
import base64, logging, urllib.parse
import pytest
from labkit.s3server import Keys

TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ"

@pytest.fixture
def keys():
    keys = Keys.generate()
    open({str(leak)!r}, "w").write(keys.secret_access_key + "\\n" + keys.access_key_id)
    logging.getLogger("botocore.endpoint").debug("Sending http request: headers={{'X-Amz-Security-Token': b'%s'}}", TOKEN)
    secret = keys.secret_access_key
    encoded = base64.b64encode(secret.encode()).decode()
    print("stringData", urllib.parse.quote(secret, safe=""))
    raise RuntimeError(f"403 creating Secret: {{keys}} {{secret}} {{encoded}}")

def test_driver(keys):
    pass
"""
    )
    result = pytester.runpytest(
        "-p", "fixtures.redaction", "-l", "--log-level=DEBUG", "--junitxml=junit.xml", "--html=report.html", "--self-contained-html"
    )
    result.assert_outcomes(errors=1)
    secret, access_key = leak.read_text().splitlines()
    token = "IQoJb3JpZ2luX2VjEJr"
    outputs = {
        "stdout": result.stdout.str(),
        "junit": (pytester.path / "junit.xml").read_text(),
        "html": (pytester.path / "report.html").read_text(),
    }
    for where, text in outputs.items():
        for value in (secret, access_key, base64.b64encode(secret.encode()).decode()[:20], urllib.parse.quote(secret, safe=""), token):
            assert value not in text, f"{value[:6]}... in {where}"
    assert "403 creating Secret" in outputs["junit"]


def test_the_default_service_account_wait_stops_at_a_refusal() -> None:
    """A 404 is "not made yet"; a 403 never heals, so it is raised at once, not waited out."""
    from kubernetes.client.exceptions import ApiException

    from labkit import settings
    from labkit.kube import Kube

    kube = Kube.__new__(Kube)
    kube.timeouts = settings.Timeouts(default_service_account=30)

    class Core:
        calls = 0

        def read_namespaced_service_account(self, name: str, namespace: str) -> None:
            Core.calls += 1
            raise ApiException(status=403, reason="Forbidden")

    kube.core = Core()
    with pytest.raises(ApiException, match="Forbidden"):
        kube.wait_default_service_account()
    assert Core.calls == 1
