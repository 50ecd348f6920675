"""Where the lab runs: the cluster's kind of target and the kubeconfig the suite reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labkit.s3bucket import Bucket


@dataclass(frozen=True)
class ClusterTarget:
    mode: str
    kubeconfig: Path
    context: str | None
    # A cluster the suite made: how many nodes it asked for (all must be Ready before the lab).
    made_with_nodes: int | None = None
    # A bucket the cluster's provider made for the run (EKS: the one its driver's IAM role names).
    bucket: Bucket | None = None
