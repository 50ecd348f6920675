"""The nightly, dry: its plan, lab, teardown and sweeps as `.github/workflows/nightly.yml` runs
them, against a local AWS stand-in (labkit/eks/standin.py: moto's server plus what moto lacks),
with the Kubernetes part on a local cluster. One command, before a change to the EKS code lands:

    tox -e eks-dryrun        # a single-node cluster built here, the driver's images, then this

The steps are read from the workflow, so the dry run follows it. The stand-in runs inside a pod's
network namespace on the local cluster (a process of this machine, entered with setns): the
suite reaches it through a port-forward, the Mountpoint pods by its Service, so the S3 variant
mounts the bucket the EKS path made. EKS would install the S3 CSI driver as an add-on; here it is
installed from the same chart before the run (the stand-in answers the add-on calls) with keys of
its own. Every request the stand-in gets is recorded as the operation it is; afterwards the
nightly role's requests are held against `nightly-policy.json`, the driver's against the
Mountpoint policy, and nothing of the run may be left. IAM conditions, IRSA's token exchange and
Pod Identity's agent are not exercised: only AWS has them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml
from kubernetes.client.exceptions import ApiException

from labkit import helm, matrix, redact, s3driver, s3server, settings
from labkit.eks import names, policy, s3csi, tags
from labkit.kube import Kube, found
from labkit.kubectl import APPLY, Kubectl
from labkit.lab import ASSETS
from labkit.waiting import NotYet, WaitTimeout, until

WORKFLOW = settings.ROOT / ".github" / "workflows" / "nightly.yml"
PORT = 4566
NAME = "aws-standin"
REGION = "eu-west-1"
# What a request's name says it does to what it names.
CHANGES = re.compile(
    r"^(Create|Put|Delete|Associate|Disassociate|Attach|Detach|Tag|Untag|Run|Terminate|Authorize|Revoke|Modify|Update|Complete|Upload|Abort|Add|Remove)"
)
ENDS = re.compile(r"^(Delete|Disassociate|Detach|Terminate|Revoke|Remove|Untag)")
# How long a step may take over its teardown once the dry run is interrupted.
STEP_GRACE = 300
# The dry run's own reads of what is left: neither the nightly's nor the driver's.
CHECKER = "dry run's check"


class DryRunError(RuntimeError):
    """The dry run could not run; one line naming the fix."""


@dataclass(frozen=True)
class Step:
    job: str
    name: str
    argv: tuple[str, ...]
    always: bool  # runs after an earlier step of its job failed (`if: always()`)

    def run_id(self, default: str) -> str:
        """The run id the step passes (a version's own, in a run across versions)."""
        found = matrix.run_id_option(self.argv)
        return found[1] if found else default


def _expand(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: values.get(m.group(1), m.group(0)), text)


def steps(workflow: Path, values: dict[str, str], lab_args: list[str]) -> list[Step]:
    """The workflow's `tox -e lab --` (or `labkit.matrix`'s, per version) and sweeper steps, in job
    order, as this machine runs them."""
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    found_steps: list[Step] = []
    for job_name, job in jobs.items():
        for step in job.get("steps", []):
            command = " ".join(str(step.get("run", "")).split())
            always = "always()" in str(step.get("if", ""))
            if "tox -e lab --" in command:
                args = shlex.split(_expand(command.split("tox -e lab --", 1)[1], values))
                argv = (sys.executable, "-m", "pytest", "tests/lab", *args, *lab_args)
                found_steps.append(Step(job_name, step.get("name", ""), argv, always))
            elif "python -m labkit.matrix" in command:  # one lab step per version, as the matrix runs them
                asked = matrix.parser().parse_args(shlex.split(_expand(command.split("python -m labkit.matrix", 1)[1], values)))
                if asked.env != "lab":
                    raise DryRunError(f"{workflow}: step {step.get('name')!r} runs labkit.matrix on {asked.env}, not on EKS (--env lab)")
                for version in matrix.versions(asked.kubernetes_version, settings.versions(), datetime.date.today())[0]:
                    argv = (sys.executable, "-m", "pytest", "tests/lab", *matrix.eks_args(version, asked.args), *lab_args)
                    found_steps.append(Step(job_name, f"{step.get('name', '')} ({version})", argv, always))
            elif "python -m labkit.eks.sweeper" in command:
                args = shlex.split(_expand(command.split("python -m labkit.eks.sweeper", 1)[1], values))
                found_steps.append(Step(job_name, step.get("name", ""), (sys.executable, "-m", "labkit.eks.sweeper", *args), always))
    if not any("--eks-create" in s.argv for s in found_steps) or not any("labkit.eks.sweeper" in s.argv for s in found_steps):
        raise DryRunError(
            f"{workflow} has no `tox -e lab -- --eks-create` (nor labkit.matrix's) or no sweeper step: the dry run follows the "
            "workflow; mend one of them"
        )
    return found_steps


def _pod_pid(uid: str) -> int:
    """A process of the pod (any: they share its network namespace), from the cgroups on this host."""
    marks = (f"pod{uid}", f"pod{uid.replace('-', '_')}")
    own = os.readlink("/proc/self/ns/net")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(mark in (entry / "cgroup").read_text() for mark in marks) and os.readlink(entry / "ns" / "net") != own:
                return int(entry.name)
        except OSError:
            continue
    raise DryRunError(f"no process of pod {uid} on this machine: the dry run needs a local cluster whose pods run here (tox -e eks-dryrun)")


def _objects(namespace: str, run_id: str, image: str) -> list[dict[str, Any]]:
    labels = {**s3server.labels(run_id), "app": NAME}
    meta = {"namespace": namespace, "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": s3server.labels(run_id)}},
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": NAME, **meta},
            # Any image the cluster has: the pod is only a network namespace for the stand-in.
            "spec": {"containers": [{"name": "netns", "image": image, "imagePullPolicy": "Never"}], "terminationGracePeriodSeconds": 1},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": NAME, **meta},
            "spec": {"selector": {"app": NAME}, "ports": [{"port": PORT, "targetPort": PORT}]},
        },
    ]


class Keys:
    """Made-up keys per principal, so the record tells who sent each request."""

    def __init__(self) -> None:
        self.nightly, self.driver, self.checker = (s3server.Keys.generate() for _ in range(3))

    def who(self, key: str) -> str:
        by_key = {self.nightly.access_key_id: "nightly", self.driver.access_key_id: "driver", self.checker.access_key_id: CHECKER}
        return by_key.get(key, "unknown")


@dataclass
class Standin:
    kube: Kube
    kubectl: Kubectl
    run_id: str
    record: Path
    log: Path
    timeouts: settings.Timeouts

    @property
    def namespace(self) -> str:
        return f"eks-dryrun-{self.run_id}"

    @contextlib.contextmanager
    def running(self, kubernetes: str, addons: dict[str, str]) -> Iterator[tuple[str, str]]:
        """(the suite's endpoint, the nodes' endpoint) while the stand-in runs; all of it removed after."""
        try:
            self.kubectl.check(list(APPLY), stdin="\n".join(json.dumps(d) for d in _objects(self.namespace, self.run_id, ASSETS.image)))
            self.kube.wait_pods_ready(
                self.namespace, f"app={NAME}", f"the stand-in's pod {self.namespace}/{NAME}", self.timeouts.s3_server_ready
            )
            pod = self.kube.core.read_namespaced_pod(NAME, self.namespace)
            service = self.kube.core.read_namespaced_service(NAME, self.namespace)
            argv = [sys.executable, "-m", "labkit.eks.standin", "--pod-pid", str(_pod_pid(pod.metadata.uid)), "--pod-port", str(PORT)]
            argv += ["--record", str(self.record), "--kubernetes", kubernetes, *[f"--addon={k}={v}" for k, v in addons.items()]]
            with open(self.log, "w") as out:
                process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, preexec_fn=s3server.die_with_parent)
            try:
                port = self._wait_listening(process)
                yield f"http://127.0.0.1:{port}", f"http://{service.spec.cluster_ip}:{PORT}"
            finally:
                process.terminate()
                process.wait(timeout=30)
        finally:
            self.delete()

    def _wait_listening(self, process: subprocess.Popen[bytes]) -> int:
        """The stand-in's loopback port, once it says it serves."""

        def probe() -> int:
            if process.poll() is not None:
                raise DryRunError(f"the AWS stand-in exited {process.returncode}: see {self.log}")
            said = re.search(r"serving on 127\.0\.0\.1:(\d+)", self.log.read_text())
            if said is None:
                raise NotYet(f"{self.log}: {self.log.read_text().strip()[-200:] or 'nothing yet'}")
            return int(said.group(1))

        return until("the AWS stand-in to listen", probe, self.timeouts.port_forward, interval=0.5)

    def delete(self) -> None:
        try:
            self.kube.core.delete_namespace(self.namespace)
        except ApiException as err:
            if err.status != 404:
                raise
            return

        def gone() -> None:
            if found(lambda: self.kube.core.read_namespace(self.namespace)) is not None:
                raise NotYet(f"namespace {self.namespace} still terminating")

        until(f"namespace {self.namespace} to be deleted", gone, self.timeouts.namespace_delete, interval=0.5)


def _environment(endpoint: str, keys: s3server.Keys, values: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_EC2_METADATA_DISABLED"}
    return {
        **env,
        **values,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": keys.access_key_id,
        "AWS_SECRET_ACCESS_KEY": keys.secret_access_key,
        "AWS_DEFAULT_REGION": values["AWS_REGION"],
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }


def leftovers(endpoint: str, keys: s3server.Keys, region: str, run_id: str) -> list[str]:
    """What of the run the stand-in still holds, read by the dry run's own principal."""
    session = boto3.session.Session(keys.access_key_id, keys.secret_access_key, region_name=region)
    eks = session.client("eks", endpoint_url=endpoint)
    ec2 = session.client("ec2", endpoint_url=endpoint)
    iam = session.client("iam", endpoint_url=endpoint)
    s3 = session.client("s3", endpoint_url=endpoint)

    def mine(item: Any) -> bool:
        return any(t["Key"] == tags.RUN and names.of_run(t["Value"], run_id) for t in item.get("Tags", []))

    left = [f"EKS cluster {c}" for c in eks.list_clusters()["clusters"]]
    left += [f"VPC {v['VpcId']}" for v in ec2.describe_vpcs()["Vpcs"] if mine(v)]
    left += [f"subnet {s['SubnetId']}" for s in ec2.describe_subnets()["Subnets"] if mine(s)]
    left += [f"IAM role {r['RoleName']}" for r in iam.list_roles(PathPrefix=tags.IAM_PATH)["Roles"]]
    left += [f"OIDC provider {p['Arn']}" for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    left += [f"bucket {b['Name']}" for b in s3.list_buckets()["Buckets"]]
    return left


def transcript(
    records: list[dict[str, Any]], spans: list[tuple[str, int, int, str]], keys: Keys, bucket: str
) -> tuple[list[str], list[str]]:
    """(lines to show, failures): each change in order with its step, the reads counted, then the checks."""
    lines, failures = [], []
    by_step = {n: name for name, first, last, _ in spans for n in range(first, last + 1)}
    lines.append(f"{len(records)} AWS requests; changes in order (step, principal, request, answer):")
    for r in records:
        if CHANGES.match(r["operation"]) and keys.who(r["key"]) != "driver":
            mark = "-" if ENDS.match(r["operation"]) else "+"
            lines.append(
                f"  {mark} {r['n']:>4} [{by_step.get(r['n'], 'set-up')}] {keys.who(r['key'])}: {r['service']}:{r['operation']} {r['path']} -> {r['status']}"
            )
    reads = Counter(
        f"{r['service']}:{r['operation']}" for r in records if not CHANGES.match(r["operation"]) and keys.who(r["key"]) == "nightly"
    )
    lines.append("nightly role's reads: " + ", ".join(f"{op} x{n}" for op, n in sorted(reads.items())))
    data = Counter(f"s3:{r['operation']}" for r in records if keys.who(r["key"]) == "driver")
    lines.append(
        "the driver's requests (Mountpoint, the lab's files): " + (", ".join(f"{op} x{n}" for op, n in sorted(data.items())) or "none")
    )
    unread = sorted({f"{r['service']} {r['path']}" for r in records if not r["operation"]})
    if unread:
        failures.append(f"requests no AWS operation matches (not checked against a policy): {', '.join(unread)}")
    nightly = {policy.action(r["service"], r["operation"]) for r in records if keys.who(r["key"]) == "nightly" and r["operation"]}
    missing = policy.not_allowed(nightly)
    lines.append(
        f"nightly-policy.json: {len(nightly)} distinct actions sent, "
        + (f"NOT ALLOWED: {', '.join(missing)}" if missing else "all allowed")
    )
    if missing:
        failures.append(f"{policy.FILE.name} does not allow what the nightly sent: {', '.join(missing)}")
    driver = {policy.action("s3", r["operation"]) for r in records if keys.who(r["key"]) == "driver" and r["operation"]}
    beyond = policy.not_allowed(driver, s3csi.mountpoint_policy(bucket))
    lines.append(
        f"the Mountpoint policy: {len(driver)} distinct actions sent, " + (f"NOT ALLOWED: {', '.join(beyond)}" if beyond else "all allowed")
    )
    if beyond:
        failures.append(f"the Mountpoint policy does not allow what the driver sent: {', '.join(beyond)}")
    strangers = sorted({r["key"] for r in records if keys.who(r["key"]) == "unknown"})
    if strangers:
        failures.append(f"{len(strangers)} principal(s) the dry run did not make sent requests")
    return lines, failures


def _read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


SCENARIOS = {
    "clean": "the nightly as the workflow runs it",
    "killed": "the lab step killed (SIGKILL to its process group) once the run's cluster and add-on exist, as the runner "
    "kills a cancelled or timed-out job whose grace ran out: its teardown never runs, the sweep job must delete it all",
}


@dataclass
class Nightly:
    """One local cluster and one stand-in; each scenario a run of its own."""

    kubectl: Kubectl
    keys: Keys
    record: Path
    reports: Path
    local: str
    dry_file: Path
    identity: str
    kubernetes: str  # the minor the stand-in offers (the local cluster's): the run's versions
    lab_args: list[str]
    say: Any = print

    def run(self, run_id: str, kill: bool) -> tuple[list[str], list[str]]:
        """(transcript lines, failures) of one scenario."""
        values = {"AWS_REGION": REGION, "RUN_ID": run_id, "EKS_IDENTITY": self.identity, "EKS_VERSIONS": self.kubernetes}
        env = _environment(self.local, self.keys.nightly, values)
        junit = self.reports / f"eks-dryrun-{run_id}-junit.xml"
        lab_args = ["--eks-dry-run", str(self.dry_file), "--lab-report-dir", str(self.reports), "--junitxml", str(junit), *self.lab_args]
        spans: list[tuple[str, int, int, str]] = []
        failed: list[str] = []
        job_failed: set[str] = set()
        begun = len(_read_records(self.record)) + 1
        for step in steps(WORKFLOW, values, lab_args):
            if step.job in job_failed and not step.always:
                self.say(f"dryrun: [{step.job}] {step.name}: skipped (an earlier step of the job failed)")
                continue
            first = len(_read_records(self.record)) + 1
            started = time.monotonic()
            self.say(f"dryrun: [{step.job}] {step.name}: {shlex.join(step.argv[1:])}")
            outcome = self._step(step, env, first if kill and "--eks-create" in step.argv and "--eks-plan" not in step.argv else None)
            last = len(_read_records(self.record))
            spans.append((f"{step.job}: {step.name}", first, last, outcome))
            self.say(f"dryrun: [{step.job}] {step.name}: {outcome} in {time.monotonic() - started:.0f}s, {last - first + 1} AWS requests")
            if outcome.startswith("killed"):
                job_failed.add(step.job)
                self._remove_lab_objects(step.run_id(run_id))
            elif outcome != "exit 0":
                job_failed.add(step.job)
                failed.append(f"step `{step.name}` {outcome}")
        records = [r for r in _read_records(self.record) if r["n"] >= begun]
        bucket = next((r["path"].strip("/").split("/")[0] for r in records if r["operation"] == "CreateBucket"), "?")
        lines, failures = transcript(records, spans, self.keys, bucket)
        if kill and not any(
            ENDS.match(r["operation"]) for r in records if r["n"] > max((b for *_, b, o in spans if o.startswith("killed")), default=0)
        ):
            failures.append("the sweep deleted nothing after the killed run")
        left = leftovers(self.local, self.keys.checker, REGION, run_id)
        lines.append("left in the stand-in after the sweeps: " + (", ".join(left) or "nothing"))
        if left:
            failures.append(f"left in the stand-in after the sweeps: {', '.join(left)}")
        head = [f"step {name}: {f'requests {a}-{b}' if b >= a else 'no AWS request'}, {outcome}" for name, a, b, outcome in spans]
        return head + lines, failed + failures

    def _step(self, step: Step, env: dict[str, str], kill_after: int | None) -> str:
        """Run a step; with `kill_after`, SIGKILL its process group once the add-on is made."""
        process = subprocess.Popen(step.argv, env=env, cwd=settings.ROOT, start_new_session=True)
        try:
            while process.poll() is None:
                made = kill_after is not None and any(
                    r["n"] >= kill_after and r["operation"] == "CreateAddon" and r["status"] == 200 for r in _read_records(self.record)
                )
                if made:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    return "killed once the add-on was made (SIGKILL)"
                time.sleep(0.5)
        except BaseException:  # Ctrl-C or SIGTERM to the dry run: the step gets it once, with time for its teardown
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STEP_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            raise
        return f"exit {process.returncode}"

    def _remove_lab_objects(self, run_id: str) -> None:
        """What the killed lab left in the local cluster (on EKS it goes with the cluster)."""
        selector = f"{settings.LABEL_RUN}={run_id}"
        self.kubectl.check(["delete", "namespace,persistentvolume", "-l", selector, "--ignore-not-found", "--wait", "--timeout=180s"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.eks.dryrun", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="the local cluster (default $KUBECONFIG)")
    parser.add_argument("--context", default=None)
    parser.add_argument("--identity", choices=s3csi.IDENTITIES, default="irsa", help="as the workflow's input (default %(default)s)")
    parser.add_argument(
        "--scenario",
        choices=(*SCENARIOS, "both"),
        default="both",
        help="; ".join(f"{k}: {v}" for k, v in SCENARIOS.items()) + " (default both)",
    )
    parser.add_argument("--reports", default="reports", help="where the transcript, the record and the lab's reports go")
    parser.add_argument("lab_args", nargs="*", help="after --: more pytest arguments for the lab step (e.g. -k baseline)")
    args = parser.parse_args(argv)
    # SIGTERM as Ctrl-C: the steps, the driver and the stand-in's pod are undone on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if not args.kubeconfig:
        print("dryrun: error: no local cluster: pass --kubeconfig or set KUBECONFIG (tox -e eks-dryrun brings one up)", file=sys.stderr)
        return 2
    reports = Path(args.reports).resolve()
    reports.mkdir(parents=True, exist_ok=True)
    record, out = reports / "eks-dryrun-requests.jsonl", reports / "eks-dryrun.txt"
    record.unlink(missing_ok=True)
    timeouts = settings.Timeouts()
    kubeconfig = Path(args.kubeconfig)
    kube = Kube.connect(kubeconfig, args.context, timeouts)
    kubectl = Kubectl(kubeconfig, args.context, timeouts.kubectl)
    keys = Keys()
    own = "s" + os.urandom(4).hex()[:7]  # the stand-in's namespace and the driver's release
    kubernetes = settings.minor(kube.server_version())
    driver_pin = settings.versions()["MOUNTPOINT_S3_CSI_DRIVER_VERSION"]
    addons = {names.ADDON: f"{driver_pin}-eksbuild.1", names.POD_IDENTITY_AGENT: "v0-standin"}
    scenarios = list(SCENARIOS) if args.scenario == "both" else [args.scenario]
    print(
        f"dryrun: {WORKFLOW.relative_to(settings.ROOT)}, {', '.join(scenarios)}, on the local cluster of {kubeconfig} (Kubernetes {kubernetes})"
    )
    standin = Standin(kube, kubectl, own, record, reports / "eks-dryrun-standin.log", timeouts)
    install = s3driver.Installation(kube, kubeconfig, args.context, own, timeouts)
    report: list[str] = []
    failed: list[str] = []
    try:
        with standin.running(kubernetes, addons) as (local, nodes):
            print(f"dryrun: AWS stand-in at {local} (the nodes: {nodes}); the EKS add-on's driver installed from its chart")
            install.helm = helm.ensure(print)
            install.install(keys.driver, helm.module_chart())
            try:
                install.wait_ready()
                dry = reports / "eks-dryrun-cluster.json"
                dry.write_text(json.dumps({"kubeconfig": str(kubeconfig), "context": args.context, "s3_endpoint": nodes}))
                nightly = Nightly(kubectl, keys, record, reports, local, dry, args.identity, kubernetes, args.lab_args)
                for scenario in scenarios:
                    run_id = scenario[0] + os.urandom(4).hex()[:7]
                    print(f"dryrun: scenario {scenario}, run {run_id}: {SCENARIOS[scenario]}")
                    lines, failures = nightly.run(run_id, kill=scenario == "killed")
                    report += [f"== scenario {scenario}, run {run_id}: {SCENARIOS[scenario]}", *lines]
                    failed += [f"{scenario}: {f}" for f in failures]
            finally:
                install.uninstall()
    except (DryRunError, WaitTimeout, RuntimeError, helm.HelmUnavailable, s3driver.DriverError, ApiException) as err:
        failed.append(redact.text(str(err)).splitlines()[0])
    report += [f"FAILED: {f}" for f in failed] or ["PASSED: every step ran, every request allowed, nothing left"]
    out.write_text("\n".join(redact.text(line) for line in report) + "\n")
    print("\n".join(redact.text(line) for line in report))
    print(f"dryrun: transcript {out}, every request {record}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
