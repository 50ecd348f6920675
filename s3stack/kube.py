"""kubectl against the local cluster's admin kubeconfig."""

from __future__ import annotations

import json
from typing import Any

from localcluster import ADMIN_KUBECONFIG
from s3stack.layout import KUBECTL_MISSING, find_kubectl
from stackbase.shell import run
from stackbase.ui import ToolError


def _kubectl() -> str:
    found = find_kubectl()
    if found is None:
        raise ToolError(KUBECTL_MISSING)
    return str(found)


def kubectl(*args: str, input_text: str | None = None, check: bool = True, timeout: float = 120) -> str:
    if not ADMIN_KUBECONFIG.is_file():
        raise ToolError(f"{ADMIN_KUBECONFIG} is missing: python3 -m localcluster up")
    command = [_kubectl(), "--kubeconfig", str(ADMIN_KUBECONFIG), "--request-timeout=30s", *args]
    return run(command, input_text=input_text, check=check, timeout=timeout).stdout


def get_json(*args: str) -> dict[str, Any]:
    text = kubectl("get", *args, "-o", "json", "--ignore-not-found")
    if not text.strip():
        return {}
    data: dict[str, Any] = json.loads(text)
    return data


def api_reachable() -> bool:
    if not ADMIN_KUBECONFIG.is_file():
        return False
    command = [_kubectl(), "--kubeconfig", str(ADMIN_KUBECONFIG), "--request-timeout=5s", "get", "--raw", "/readyz"]
    return run(command, check=False, timeout=20).returncode == 0
