"""The baseline: the app's own files in each container, `/tmp` an emptyDir (lab page 1).

Nothing is shared: a file touched in one replica is not in the other, and a removed pod's
files are gone. The store invariant holds the whole container to that: every volume the app's
container mounts lives and dies with its pod.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labkit import invariants, lab
from labkit.variants import Capabilities, Obj, Variant

# Volume sources whose data belongs to one pod.
POD_LOCAL = frozenset({"emptyDir", "configMap", "secret", "projected", "downwardAPI"})


@dataclass(frozen=True)
class EmptyDir(Variant):
    def path(self, app: lab.App) -> str:
        if app.files_dir is None:
            raise ValueError(f"the {app.name} app keeps no files of its own for the baseline to list")
        return app.files_dir

    def initial_files(self, app: lab.App) -> tuple[str, ...]:
        return app.files

    def store_invariants(self, docs: Sequence[Obj], app: lab.App) -> list[str]:
        dep, lines = invariants.app_deployment(docs, app)
        if dep is None:
            return lines
        at = f"spec.template.spec.containers[{app.name}].volumeMounts"
        for mount, source in invariants.mounts(dep, app):
            kinds = sorted(k for k in source if k != "name") or ["unknown"]
            if not set(kinds) <= POD_LOCAL:
                lines.append(
                    invariants.finding(
                        dep,
                        f"{at}: {mount.get('name')!r} ({', '.join(kinds)}) is mounted at {mount.get('mountPath')}, which would share "
                        "what the app writes there; the baseline mounts only pod-local volumes (emptyDir, configMap, secret, ...)",
                    )
                )
        return lines


DRIVER = EmptyDir(
    name="emptydir",
    overlay="overlays/emptydir",
    capabilities=Capabilities(shared_across_pods=False, shared_across_nodes=False, survives_pod_removal=False),
    rollout_timeout=lab.ROLLOUT_TIMEOUT_EMPTYDIR,
)
