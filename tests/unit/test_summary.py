"""The report's first screen: the cluster, then per variant what was expected and what the
pods showed (a verdict that differs from the expected one stands out), then the pages."""

from __future__ import annotations

from fixtures import summary
from labkit.drivers import by_name
from labkit.kube import PodInfo

IMAGES = ("chrono_classic.jpg", "gentleman.jpg")
WRITER, READER = PodInfo("assets-a", "node-1", "u1"), PodInfo("assets-b", "node-2", "u2")


def test_rows_show_expected_and_observed_with_pods_nodes_and_files() -> None:
    found = summary.Summary(cluster={"Kubernetes": "v1.36.3"})
    for name, read in (("emptydir", IMAGES), ("s3-pv", (*IMAGES, "divewatch.jpg"))):
        obs = summary.Observation(by_name(name), "divewatch.jpg", WRITER, (*IMAGES, "divewatch.jpg"), READER, read)
        found.observations[name] = obs
    found.pages["page.md"] = ("2 block(s) matches", [(12, "matches", "kubectl scale -n assets --replicas=2 deployment/assets")])
    page = summary.html(found, "run1")
    assert page.index("run id") < page.index("v1.36.3") < page.index("emptydir") < page.index("s3-pv") < page.index("page.md")
    assert "<td>not shared</td><td style='color:#0a0'><b>not shared</b></td>" in page
    assert "<td>shared</td><td style='color:#0a0'><b>shared</b></td>" in page
    assert "assets-a<br><small>node node-1</small>" in page
    assert "<b>divewatch.jpg</b>" in page


def test_a_verdict_that_is_not_the_expected_one_is_red() -> None:
    found = summary.Summary()
    shared_baseline = summary.Observation(by_name("emptydir"), "x.jpg", WRITER, ("x.jpg",), READER, ("x.jpg",))
    found.observations["emptydir"] = shared_baseline
    assert "<td>not shared</td><td style='color:#c00'><b>shared</b></td>" in summary.html(found, "r")
