"""A small client of the cluster's API (stdlib only), authenticated as the admin."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from localcluster.layout import API_PORT, PKI_DIR
from stackbase.ui import ToolError

T = TypeVar("T")


class Api:
    def __init__(self, node_ip: str) -> None:
        self.base = f"https://{node_ip}:{API_PORT}"
        self.context = ssl.create_default_context(cafile=str(PKI_DIR / "ca.crt"))
        self.context.load_cert_chain(str(PKI_DIR / "admin.crt"), str(PKI_DIR / "admin.key"))

    def request(self, method: str, path: str, body: object = None, content_type: str = "application/json") -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        except (urllib.error.URLError, OSError):
            return 0, None
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)


def wait_for(what: str, check: Callable[[], T | None], timeout: float, hint: str, alive: Callable[[], None] | None = None) -> T:
    """Poll `check` until it returns a value; on timeout fail with a message naming `hint`."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None:
            alive()
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise ToolError(f"timed out after {int(timeout)}s waiting for {what}: {hint}")
        time.sleep(1)
