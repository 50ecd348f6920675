"""What no lab manifest may do: reach into the node, or hand out the cluster.

The live tier applies a lab's manifests as they are written (from the suite's copy or a
workshop checkout), so a pull request that adds `hostPath: /`, a privileged container or a
binding to `cluster-admin` would run with the rights of whoever runs the suite. The lab needs
none of these; each is a finding that names the object and the field, like the invariants.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

Obj = dict[str, Any]

# Where each workload kind keeps its pod spec.
POD_SPEC = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
HOST_NAMESPACES = ("hostPID", "hostIPC", "hostNetwork")
# Capabilities a container may add: none of them reaches beyond the container.
HARMLESS_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
# Roles that give away a namespace or the cluster when bound.
POWERFUL_ROLES = frozenset({"cluster-admin", "admin", "edit"})
POWERFUL_VERBS = frozenset({"*", "escalate", "bind", "impersonate"})
POWERFUL_GROUPS = frozenset({"system:masters", "system:authenticated", "system:unauthenticated"})


def _name(obj: Obj) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def _pod_spec(obj: Obj) -> tuple[str, Obj] | None:
    path = POD_SPEC.get(str(obj.get("kind")))
    spec: Any = obj
    for part in path or ():
        spec = spec.get(part) if isinstance(spec, dict) else None
    return (".".join(path), spec) if path and isinstance(spec, dict) else None


def _containers(spec: Obj, at: str) -> Iterator[tuple[str, Obj]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            yield f"{at}.{field}[{c.get('name')}]", c


def _pod(obj: Obj, at: str, spec: Obj) -> Iterator[str]:
    for field in HOST_NAMESPACES:
        if spec.get(field):
            yield f"{at}.{field} is true: the lab never shares the node's namespaces"
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            path = (volume.get("hostPath") or {}).get("path")
            yield f"{at}.volumes[{volume.get('name')}].hostPath is {path!r}: the lab never mounts the node's files"
    for where, c in _containers(spec, at):
        context = c.get("securityContext") or {}
        if context.get("privileged"):
            yield f"{where}.securityContext.privileged is true: the lab's containers run unprivileged"
        if context.get("allowPrivilegeEscalation"):
            yield f"{where}.securityContext.allowPrivilegeEscalation is true: the lab's containers drop ALL capabilities"
        added = sorted(set((context.get("capabilities") or {}).get("add") or []) - HARMLESS_CAPABILITIES)
        if added:
            yield f"{where}.securityContext.capabilities.add is {added!r}: the lab's containers drop ALL capabilities"
        if context.get("procMount") == "Unmasked":
            yield f"{where}.securityContext.procMount is 'Unmasked': the lab keeps /proc masked"
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                yield f"{where}.ports[{port.get('name')}].hostPort is {port['hostPort']}: the lab opens no port on the node"


def _rbac(obj: Obj) -> Iterator[str]:
    kind = obj.get("kind")
    if kind in ("ClusterRoleBinding", "RoleBinding"):
        role = (obj.get("roleRef") or {}).get("name")
        if role in POWERFUL_ROLES:
            yield f"roleRef.name is {role!r}: the lab grants no built-in administrative role"
        for subject in obj.get("subjects") or []:
            if subject.get("kind") == "Group" and subject.get("name") in POWERFUL_GROUPS:
                yield f"subjects[{subject['name']}] is a group the lab never binds"
            if subject.get("kind") == "User" and subject.get("name") == "system:anonymous":
                yield "subjects[system:anonymous] is a user the lab never binds"
    if kind in ("ClusterRole", "Role"):
        for i, rule in enumerate(obj.get("rules") or []):
            verbs = sorted(POWERFUL_VERBS & set(rule.get("verbs") or []))
            if verbs:
                yield f"rules[{i}].verbs has {verbs!r}: the lab's roles name what they may do"
            for field in ("apiGroups", "resources"):
                if kind == "ClusterRole" and "*" in (rule.get(field) or []):
                    yield f"rules[{i}].{field} has '*': the lab's cluster roles name what they reach"


def dangers(docs: Sequence[Obj]) -> list[str]:
    """Every field, in every object, that reaches the node or hands out the cluster."""
    lines = []
    for obj in docs:
        found = _pod_spec(obj)
        if found:
            lines += [f"{_name(obj)}: {line}" for line in _pod(obj, *found)]
        lines += [f"{_name(obj)}: {line}" for line in _rbac(obj)]
    return lines
