"""Where the lab runs: the cluster's kind of target and the kubeconfig the suite reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ClusterTarget:
    mode: str
    kubeconfig: Path
    context: str | None
    # A cluster the suite made: how many nodes it asked for (all must be Ready before the lab).
    made_with_nodes: int | None = None
