"""A store is one driver file plus its overlay: a stand-in driver defined here, in one file
and one overlay, goes through parametrize, needs, deploy, verdict, the report and the static
tier with no other file of the suite changed."""

from __future__ import annotations

import os

import pytest

from labkit.settings import ROOT

DRIVER_FILE = '''
"""A stand-in shared store: its files live in memory, the store the suite reads from outside."""
import hashlib
import os
from dataclasses import dataclass, field

from labkit import drivers, invariants, lab
from labkit.variants import Capabilities, Prepared, SetupFailed, Variant

OVERLAY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standin-overlay")


@dataclass
class MemoryStore:
    files: dict = field(default_factory=dict)
    name: str = "memory"

    def keys(self):
        return {k: len(v) for k, v in self.files.items()}

    def sha256(self, key):
        return hashlib.sha256(self.files[key]).hexdigest() if key in self.files else None

    def reset(self):
        self.files = {n: b"" for n in lab.BUCKET_SEED}

    def shown(self, action, key=None):
        return f"standin {action} {key or ''}".strip()


@dataclass(frozen=True)
class StandIn(Variant):
    def path(self, app):
        return "/standin"

    def initial_files(self, app):
        return lab.BUCKET_SEED

    def unmet(self, setup):
        why = os.environ.get("STANDIN_UNMET")
        return [f"needs a stand-in store: {why}"] if why else []

    def prepare(self, setup):
        def make():
            print("STANDIN made its store")
            setup.defer(lambda: print("STANDIN removed its store"))
            why = os.environ.get("STANDIN_SETUP_FAILS")
            if why:
                raise SetupFailed(f"the stand-in store did not start: {why}")
            store = MemoryStore()
            store.reset()
            return store

        return Prepared({}, setup.once("memory", make))

    def store_invariants(self, docs, app):
        dep, lines = invariants.app_deployment(docs, app)
        if dep is not None and not any(m.get("mountPath") == "/standin" for m, _ in invariants.mounts(dep, app)):
            lines.append(invariants.finding(dep, "nothing is mounted at /standin"))
        return lines


DRIVER = drivers.register(
    StandIn(
        name="standin",
        overlay=OVERLAY,
        capabilities=Capabilities(shared_across_pods=True, shared_across_nodes=True, survives_pod_removal=True, object_store=True),
        rollout_timeout=30,
    )
)


def pytest_unconfigure(config):
    drivers.unregister(DRIVER)
'''

PATCH = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: assets
  namespace: assets
spec:
  template:
    spec:
      containers:
        - name: assets
          volumeMounts:
            - name: standin
              mountPath: /standin
      volumes:
        - name: standin
          emptyDir: {}
"""

CONFTEST = f"""
import runpy

import pytest

# The suite's own plugins, as its conftest lists them.
pytest_plugins = runpy.run_path({str(ROOT / "conftest.py")!r})["pytest_plugins"]
APPLIED = []


class FakeKube:
    def schedulable_nodes(self):
        return ["node-a", "node-b"]

    def wait_rollout(self, namespace, name, timeout):
        return f"deployment {{name}} rolled out in {{namespace}}"


class FakeKubectl:
    def shown(self, args):
        return "kubectl " + " ".join(args)

    def check(self, args, stdin=None):
        APPLIED.append(stdin)
        return "applied"


class FakeCleaner:
    def track(self, docs):
        pass

    def clean(self, variant=None):
        print(f"STANDIN cleaned the run's objects of {{variant or 'every variant'}}")
        return []


@pytest.fixture(scope="session")
def kube():
    return FakeKube()


@pytest.fixture(scope="session")
def kubectl():
    return FakeKubectl()


@pytest.fixture(scope="session")
def cleaner():
    sweeper = FakeCleaner()
    yield sweeper
    sweeper.clean()  # the final sweep, as the suite's cleaner does
"""

TEST = """
import yaml
from conftest import APPLIED
from labkit import verdict
from labkit.kube import PodInfo

def test_scenario(lab):
    applied = list(yaml.safe_load_all(APPLIED[-1]))
    deployment = next(d for d in applied if d["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == lab.namespace
    assert any(m["mountPath"] == lab.path for m in deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"])
    writer, reader = PodInfo("assets-1", "node-a", "u1"), PodInfo("assets-2", "node-b", "u2")
    listing = sorted([*lab.initial_files, "divewatch.jpg"])
    verdict.check(lab.variant, "divewatch.jpg", writer, listing, reader, listing, lab.app)
    assert lab.store.keys() == {name: 0 for name in lab.initial_files}
"""


@pytest.fixture
def standin(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.syspathinsert(str(pytester.path))
    overlay = pytester.path / "standin-overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        f"resources:\n  - {os.path.relpath(ROOT / 'manifests' / 'base', overlay)}\npatches:\n  - path: mount.yaml\n"
    )
    (overlay / "mount.yaml").write_text(PATCH)
    pytester.makepyfile(standin_driver=DRIVER_FILE, conftest=CONFTEST, test_flow=TEST)
    kubeconfig = pytester.path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
        "clusters:\n- name: k\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: standin-token}\n"
    )
    return pytester


def _lab(pytester: pytest.Pytester, *extra: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p", "standin_driver", "-p", "no:randomly", "--cluster", "existing", "--kubeconfig", str(pytester.path / "kubeconfig"),
        "-k", "standin", "-rs", "-v", *extra,
    )  # fmt: skip


def test_a_new_driver_is_parametrized_deployed_and_judged(standin: pytest.Pytester) -> None:
    result = _lab(standin, "--junitxml=junit.xml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*test_scenario?standin? PASSED*", "*lab variants*", "standin: ran in namespace assets-standin-* on 2 schedulable node(s)"]
    )
    assert 'name="variant standin"' in (standin.path / "junit.xml").read_text()


def test_its_needs_skip_it_or_fail_a_run_that_requires_it(standin: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_UNMET", "none on this cluster")
    skipped = _lab(standin)
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(["*standin needs a stand-in store: none on this cluster*"])
    required = _lab(standin, "--require", "standin")
    required.assert_outcomes(errors=1)
    required.stdout.fnmatch_lines(["*required variant cannot run (--require): standin needs a stand-in store*"])


def standin_lines(result: pytest.RunResult) -> list[str]:
    """The stand-in's own lines (with -v, pytest writes a test's name before them)."""
    return [line[line.index("STANDIN") :] for line in result.stdout.lines if "STANDIN" in line]


def test_its_set_up_is_made_once_and_removed_after_the_labs_objects(standin: pytest.Pytester) -> None:
    standin.makepyfile(test_flow2=TEST)
    result = _lab(standin, "-s")
    result.assert_outcomes(passed=2)
    lines = standin_lines(result)
    assert lines.count("STANDIN made its store") == 1, lines
    # The final sweep takes every namespace of the run (an S3 server's too): what a driver made goes first.
    assert lines[-3:] == [
        "STANDIN cleaned the run's objects of standin",
        "STANDIN removed its store",
        "STANDIN cleaned the run's objects of every variant",
    ], lines


def test_a_failed_set_up_fails_each_test_at_once_with_its_cause_and_is_undone(
    standin: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_SETUP_FAILS", "no memory left")
    standin.makepyfile(test_flow2=TEST)
    result = _lab(standin, "-s")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*the stand-in store did not start: no memory left*"])
    lines = standin_lines(result)
    assert lines.count("STANDIN made its store") == 1, f"the failure is remembered, not retried: {lines}"
    assert lines[-2:] == ["STANDIN removed its store", "STANDIN cleaned the run's objects of every variant"], lines


def test_the_static_tier_holds_its_overlay(standin: pytest.Pytester) -> None:
    """Its overlay renders, validates, keeps the app's invariants and its own store invariant;
    broken, the static tier says what broke."""
    static = (str(ROOT / "tests" / "static"), "-p", "standin_driver", "-p", "no:randomly", "-k", "standin", "-v")
    result = standin.runpytest(*static)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*test_objects_valid_for_pinned_kubernetes*standin* PASSED*", "*test_store_matches_verdict*standin* PASSED*"]
    )
    (standin.path / "standin-overlay" / "mount.yaml").write_text(PATCH.replace("/standin", "/elsewhere"))
    broken = standin.runpytest(*static)
    assert broken.ret == pytest.ExitCode.TESTS_FAILED
    broken.stdout.fnmatch_lines(["*standin is expected 'shared' but its manifests do not make it so*", "*nothing is mounted at /standin*"])
