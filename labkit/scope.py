"""The replay's own credential: what a page's `kubectl` and `helm` may do is decided by the
cluster, not by reading the page's commands.

A ServiceAccount of the run (in a namespace of its own) may read the cluster (every namespaced
kind but Secrets, through the built-in `view` role, and every cluster-scoped kind), and may
change only what the run owns: its namespaces (the built-in `admin` role in each, and changing
or deleting them), and its PersistentVolumes. A write anywhere else is refused by the API server, and the
replay shows the refusal. The kubeconfig the replay uses holds that account's token only, for
the run's cluster only.
"""

from __future__ import annotations

import base64
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from labkit import pageapply, redact, settings, tools
from labkit.kube import Kube
from labkit.waiting import NotYet, until

ACCOUNT = "lab-replay"
READ = ["get", "list", "watch"]
# What the cluster-scoped read role leaves out even where discovery offers it.
NOT_READ = {"tokenreviews", "subjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectreviews", "certificatesigningrequests"}

Obj = dict[str, Any]


@dataclass(frozen=True)
class Grant:
    """What the run owns, which the account may change."""

    run_id: str
    namespaces: tuple[str, ...]
    volumes: tuple[str, ...] = ()

    @property
    def home(self) -> str:
        """The account's own namespace (a page that deletes its namespaces keeps its credential)."""
        return f"{ACCOUNT}-{self.run_id}"

    def labels(self, variant: str) -> dict[str, str]:
        return {settings.LABEL_MANAGED_BY: settings.PROJECT, settings.LABEL_RUN: self.run_id, settings.LABEL_VARIANT: variant}


def cluster_scoped_kinds(kubeconfig: Path, context: str | None, timeout: float) -> list[tuple[str, str]]:
    """(API group, resource) of every cluster-scoped kind the cluster serves that can be read."""
    args = [tools.find("kubectl"), "--kubeconfig", str(kubeconfig), *(["--context", context] if context else [])]
    out = subprocess.run(
        [*args, "api-resources", "--namespaced=false", "--verbs=get", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"kubectl api-resources failed: {(out.stderr.strip().splitlines() or ['no error text'])[-1]}")
    kinds = []
    for name in out.stdout.split():
        resource, _, group = name.partition(".")
        if resource not in NOT_READ:
            kinds.append((group, resource))
    return kinds


def objects(grant: Grant, cluster_kinds: Sequence[tuple[str, str]], variant: str) -> list[Obj]:
    """The account, its read roles cluster-wide and its write roles in what the run owns."""
    labels = grant.labels(variant)
    name = grant.home  # the run's cluster-wide role and bindings are named like its home
    subject = [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": grant.home}]

    def meta(object_name: str, namespace: str | None = None) -> Obj:
        found: Obj = {"name": object_name, "labels": dict(labels)}
        if namespace:
            found["namespace"] = namespace
        return found

    groups: dict[str, list[str]] = {}
    for group, resource in cluster_kinds:
        groups.setdefault(group, []).append(resource)
    rules: list[Obj] = [{"apiGroups": [g], "resources": sorted(r), "verbs": READ} for g, r in sorted(groups.items())]
    # A page's own apply of its namespace (with the run's labels) patches it.
    rules.append(
        {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": list(grant.namespaces), "verbs": ["update", "patch", "delete"]}
    )
    rules.append({"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["create"]})
    if grant.volumes:
        rules.append(
            {
                "apiGroups": [""],
                "resources": ["persistentvolumes"],
                "resourceNames": list(grant.volumes),
                "verbs": ["update", "patch", "delete"],
            }
        )
    docs: list[Obj] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(grant.home)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(ACCOUNT, grant.home)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(name), "rules": rules},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": subject,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta(f"{name}-view"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": subject,
        },
    ]
    for namespace in grant.namespaces:
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta(f"{ACCOUNT}-admin", namespace),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
                "subjects": subject,
            }
        )
    return docs


def kubeconfig(kube: Kube, grant: Grant, path: Path, seconds: int) -> Path:
    """A kubeconfig with one context: the run's cluster, the account's bound token (valid for
    `seconds`, registered with redaction); written 0600 where only the replay reads it."""
    body = {"spec": {"expirationSeconds": max(seconds, 600)}}
    token = kube.core.create_namespaced_service_account_token(ACCOUNT, grant.home, body).status.token
    redact.add(token)
    conf = kube.api.configuration
    cluster: Obj = {"server": conf.host}
    if not conf.verify_ssl:
        cluster["insecure-skip-tls-verify"] = True
    elif conf.ssl_ca_cert:
        cluster["certificate-authority-data"] = base64.b64encode(Path(conf.ssl_ca_cert).read_bytes()).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lab-run", "cluster": cluster}],
        "users": [{"name": ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": "lab-run", "context": {"cluster": "lab-run", "user": ACCOUNT, "namespace": grant.namespaces[0]}}],
        "current-context": "lab-run",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(doc))
    return path


def wait_effective(path: Path, grant: Grant, timeout: float, each: float) -> None:
    """Until the API server's authorizer has the new bindings (a moment after they are made);
    `each` bounds one `kubectl auth can-i`."""
    kubectl = tools.find("kubectl")

    def probe() -> None:
        out = subprocess.run(
            [kubectl, "--kubeconfig", str(path), "auth", "can-i", "create", "pods/exec", "-n", grant.namespaces[0]],
            capture_output=True,
            text=True,
            timeout=each,
            check=False,
        )
        if out.stdout.strip() != "yes":
            raise NotYet(f"kubectl auth can-i create pods/exec -n {grant.namespaces[0]}: {out.stdout.strip() or out.stderr.strip()}")

    until("the replay's credential to take effect", probe, timeout, interval=0.5)


def refused(output: str) -> bool:
    """Whether a command's output is the API server refusing the replay's credential."""
    return 'is forbidden: User "system:serviceaccount:' in output


# kubectl's flags that choose a cluster or a credential: the replay's kubectl refuses them.
TARGET_FLAGS = (
    "--kubeconfig",
    "--context",
    "--cluster",
    "--user",
    "--server",
    "-s",
    "--token",
    "--as",
    "--as-group",
    "--as-uid",
    "--certificate-authority",
    "--client-certificate",
    "--client-key",
    "--username",
    "--password",
    "--insecure-skip-tls-verify",
    "--tls-server-name",
)


# helm's flags that choose a cluster or a credential: the replay's helm refuses them too.
HELM_TARGET_FLAGS = (
    "--kubeconfig",
    "--kube-context",
    "--kube-apiserver",
    "--kube-token",
    "--kube-as-user",
    "--kube-as-group",
    "--kube-ca-file",
    "--kube-insecure-skip-tls-verify",
    "--kube-tls-server-name",
)


def shim(folder: Path, config: Path, apply_spec: Path | None = None, helm: str | None = None) -> Path:
    """A bin folder whose `kubectl` (and, given the suite's `helm`, its helm) talks to the run's
    cluster as the replay's account and refuses any flag that would point it elsewhere (up to
    a `--`, after which the arguments are a pod's command). With `apply_spec`, an apply, create
    or replace goes through the suite's stand-in (labkit.pageapply), which adds what the run
    needs to the objects."""
    folder.mkdir(parents=True, exist_ok=True)
    kubectl = f"{shlex.quote(tools.find('kubectl'))} --kubeconfig {shlex.quote(str(config))}"
    verbs, dressed = "", ""
    if apply_spec is not None:
        python = f"env PYTHONPATH={shlex.quote(str(settings.ROOT))} {shlex.quote(sys.executable)}"
        verbs = f"""
    {"|".join(pageapply.VERBS)}) [ -n "$verb" ] || verb=$arg ;;"""
        dressed = f"""[ -z "$verb" ] || exec {python} -m labkit.pageapply {shlex.quote(str(apply_spec))} {kubectl} -- "$@"
"""
    _guard(folder / "kubectl", kubectl, TARGET_FLAGS, verbs, dressed)
    if helm is not None:
        _guard(folder / "helm", f"{shlex.quote(helm)} --kubeconfig {shlex.quote(str(config))}", HELM_TARGET_FLAGS)
    return folder


def _guard(path: Path, command: str, flags: Sequence[str], cases: str = "", before: str = "") -> None:
    """A script that runs `command` with the caller's arguments, refusing `flags` before a `--`."""
    name = path.name
    patterns = "|".join(f"{flag}|{flag}=*" if flag.startswith("--") else flag for flag in flags)
    path.write_text(f"""#!/bin/sh
# The replay's {name}: the run's cluster, the replay's own credential, nothing else.
verb=
for arg in "$@"; do
  case "$arg" in
    --) break ;;
    {patterns})
      echo "{name} ${{arg%%=*}}: the replay's {name} talks only to the run's cluster, as the run's account; drop the flag" >&2
      exit 1 ;;{cases}
  esac
done
{before}exec {command} "$@"
""")
    path.chmod(0o755)
