"""A local AWS for the nightly's dry run (labkit/eks/dryrun.py): moto's server, plus what moto
lacks and the run calls (EKS add-ons, Pod Identity associations, the version lists), with every
request recorded as the operation it is, read from the wire as AWS reads it.

The operation comes from the request itself: the service from its SigV4 credential scope, then
the query protocols' `Action`, or the REST services' method, path and query matched against
botocore's model of the service. So the policy check reads what was sent, not what the code
meant to send. Run as `python -m labkit.eks.standin --port P --record FILE`.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
QUERY_PROTOCOLS = ("query", "ec2")
CLONE_NEWNET = 0x40000000
# EKS operations moto does not serve; the stand-in answers them from its own state.
EKS_EXTRAS = (
    "CreateAddon",
    "DescribeAddon",
    "DeleteAddon",
    "ListAddons",
    "DescribeAddonVersions",
    "DescribeClusterVersions",
    "CreatePodIdentityAssociation",
    "DescribePodIdentityAssociation",
    "DeletePodIdentityAssociation",
    "ListPodIdentityAssociations",
)


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    path: re.Pattern[str]
    query: dict[str, str | None]  # required keys; a value when the model fixes it (list-type=2)
    headers: tuple[str, ...]  # required headers, lower case (CopyObject's x-amz-copy-source)
    weight: tuple[int, int]


@cache
def _routes(service: str) -> list[Route]:
    model = botocore.session.get_session().get_service_model(service)
    routes = []
    for name in model.operation_names:
        op = model.operation_model(name)
        uri, _, fixed = op.http["requestUri"].partition("?")
        pattern = re.sub(r"\\\{[A-Za-z0-9_]+\\\+\\\}", ".+", re.escape(uri))
        pattern = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", pattern)
        query: dict[str, str | None] = {}
        headers: list[str] = []
        for part in filter(None, fixed.split("&")):
            key, _, value = part.partition("=")
            if key != "x-id":
                query[key] = value or None
        members = op.input_shape.members if op.input_shape else {}
        for member in op.input_shape.required_members if op.input_shape else ():
            serial = members[member].serialization
            if serial.get("location") == "querystring":
                query[serial.get("name", member)] = None
            elif serial.get("location") == "header":
                headers.append(serial.get("name", member).lower())
        literal = len(re.sub(r"\{[^}]+\}", "", uri))
        path = re.compile(f"^{pattern.rstrip('/')}/?$")
        routes.append(Route(name, op.http["method"], path, query, tuple(headers), (len(query) + len(headers), literal)))
    return routes


def service_of(environ: Environ) -> tuple[str, str, str] | None:
    """(service, region, access key id) from the request's SigV4 scope, header or presigned."""
    text = environ.get("HTTP_AUTHORIZATION", "") or unquote(environ.get("QUERY_STRING", "")).replace("X-Amz-Credential=", "Credential=")
    found = _SCOPE.search(text)
    return (found.group(3), found.group(2), found.group(1)) if found else None


def operation_of(
    service: str, method: str, path: str, query: dict[str, list[str]], form: dict[str, list[str]], headers: Iterable[str] = ()
) -> tuple[str, dict[str, str]]:
    """The operation a request is, and its path parameters; '' when the model has none like it."""
    protocol = botocore.session.get_session().get_service_model(service).metadata["protocol"]
    if protocol in QUERY_PROTOCOLS:
        return (form.get("Action") or query.get("Action") or [""])[0], {}
    best: tuple[tuple[int, int], str, dict[str, str]] | None = None
    sent = {h.lower() for h in headers}
    for route in _routes(service):
        if route.method != method:
            continue
        matched = route.path.match(unquote(path))
        if matched is None:
            continue
        if any(key not in query or (value is not None and query[key][0] != value) for key, value in route.query.items()):
            continue
        if any(header not in sent for header in route.headers):
            continue
        if best is None or route.weight > best[0]:
            best = (route.weight, route.operation, matched.groupdict())
    return (best[1], best[2]) if best else ("", {})


class Recorder:
    """One JSON line per request: its number, service, operation, signer and answer."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.count = 0
        self.started = time.monotonic()

    def add(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.count += 1
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps({"n": self.count, "t": round(time.monotonic() - self.started, 2), **entry}) + "\n")


class AwsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass
class EksExtras:
    """Add-ons and Pod Identity associations, as EKS answers them, over moto's clusters and roles.

    An add-on is ACTIVE as soon as it is made: the dry run installed the driver it stands for
    before the run (EKS would install it now), and the run's check of its DaemonSet reads the
    real cluster. Deleting a cluster deletes its add-ons and associations, as EKS does."""

    kubernetes: str
    addon_versions: dict[str, str]
    account: str
    addons: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    associations: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def _cluster(self, region: str, name: str) -> Any:
        from moto.eks.models import eks_backends

        cluster = eks_backends[self.account][region].clusters.get(name)
        if cluster is None:
            raise AwsError(404, "ResourceNotFoundException", f"No cluster found for name: {name}.")
        return cluster

    def _role(self, arn: str | None) -> None:
        from moto.iam.models import iam_backends

        if arn and not any(role.arn == arn for role in iam_backends[self.account]["global"].roles.values()):
            raise AwsError(400, "InvalidParameterException", f"Role {arn} does not exist")

    def forget(self, cluster: str) -> None:
        for store in (self.addons, self.associations):
            for key in [k for k in store if k[0] == cluster]:
                del store[key]

    def answer(self, operation: str, region: str, params: dict[str, str], query: dict[str, list[str]], body: dict[str, Any]) -> Any:
        name = params.get("name", "")
        arn = f"arn:aws:eks:{region}:{self.account}"
        if operation == "DescribeClusterVersions":
            return {"clusterVersions": [{"clusterVersion": self.kubernetes, "status": "STANDARD_SUPPORT", "defaultVersion": True}]}
        if operation == "DescribeAddonVersions":
            wanted = query.get("addonName", [None])[0]
            listed = [
                {
                    "addonName": addon,
                    "addonVersions": [
                        {"addonVersion": version, "compatibilities": [{"clusterVersion": self.kubernetes, "defaultVersion": True}]}
                    ],
                }
                for addon, version in self.addon_versions.items()
                if wanted in (None, addon)
            ]
            return {"addons": listed}
        cluster = self._cluster(region, name)
        if operation == "CreateAddon":
            addon = body["addonName"]
            if (name, addon) in self.addons:
                raise AwsError(409, "ResourceInUseException", f"Addon already exists: {addon}")
            if addon not in self.addon_versions:
                raise AwsError(400, "InvalidParameterException", f"Addon {addon} specified is not supported")
            self._role(body.get("serviceAccountRoleArn"))
            self.addons[(name, addon)] = {
                "addonName": addon,
                "clusterName": name,
                "status": "ACTIVE",
                "addonVersion": body.get("addonVersion") or self.addon_versions[addon],
                "addonArn": f"{arn}:addon/{name}/{addon}/{uuid.uuid4()}",
                "serviceAccountRoleArn": body.get("serviceAccountRoleArn"),
                "tags": body.get("tags", {}),
                "health": {"issues": []},
                "createdAt": time.time(),
                "modifiedAt": time.time(),
            }
            return {"addon": {k: v for k, v in self.addons[(name, addon)].items() if v is not None}}
        if operation in ("DescribeAddon", "DeleteAddon"):
            key = (name, params["addonName"])
            if key not in self.addons:
                raise AwsError(404, "ResourceNotFoundException", f"No addon: {key[1]} found in cluster: {name}")
            addon_info = self.addons.pop(key) if operation == "DeleteAddon" else self.addons[key]
            shown = {**addon_info, "status": "DELETING"} if operation == "DeleteAddon" else addon_info
            return {"addon": {k: v for k, v in shown.items() if v is not None}}
        if operation == "ListAddons":
            return {"addons": sorted(addon for cluster_name, addon in self.addons if cluster_name == name)}
        if operation == "CreatePodIdentityAssociation":
            self._role(body.get("roleArn"))
            association = f"a-{uuid.uuid4().hex[:17]}"
            self.associations[(name, association)] = {
                "clusterName": name,
                "namespace": body["namespace"],
                "serviceAccount": body["serviceAccount"],
                "roleArn": body["roleArn"],
                "associationArn": f"{arn}:podidentityassociation/{name}/{association}",
                "associationId": association,
                "tags": body.get("tags", {}),
                "createdAt": time.time(),
                "modifiedAt": time.time(),
            }
            return {"association": self.associations[(name, association)]}
        if operation in ("DescribePodIdentityAssociation", "DeletePodIdentityAssociation"):
            key = (name, params["associationId"])
            if key not in self.associations:
                raise AwsError(404, "ResourceNotFoundException", f"No association {key[1]} found in cluster {name}")
            found = self.associations.pop(key) if operation == "DeletePodIdentityAssociation" else self.associations[key]
            return {"association": found}
        if operation == "ListPodIdentityAssociations":
            summaries = [
                {k: a[k] for k in ("clusterName", "namespace", "serviceAccount", "associationArn", "associationId")}
                for (cluster_name, _), a in self.associations.items()
                if cluster_name == name
            ]
            return {"associations": summaries}
        raise AssertionError(f"{operation} is not one of EKS_EXTRAS ({cluster.name})")


def _json(start_response: StartResponse, status: int, body: Any, error: str | None = None) -> list[bytes]:
    headers = [("Content-Type", "application/json")] + ([("x-amzn-ErrorType", error)] if error else [])
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict"}.get(status, "")
    start_response(f"{status} {reason}", headers)
    return [json.dumps(body).encode()]


def wrap(moto_app: WsgiApp, recorder: Recorder, extras: EksExtras) -> WsgiApp:
    """moto's app behind the recorder, with the EKS operations moto lacks answered by `extras`."""

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        signed = service_of(environ)
        if signed is None:  # moto's own API and health probes: served, not recorded
            return moto_app(environ, start_response)
        service, region, key = signed
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True) if service in ("ec2", "iam", "sts") else {}
        headers = [k[5:].replace("_", "-").lower() for k in environ if k.startswith("HTTP_")]
        operation, params = operation_of(service, method, path, query, form, headers)
        status: list[str] = []

        def recording_start(code: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            status.append(code.split()[0])
            return start_response(code, headers, *args)

        try:
            if service == "eks" and operation in EKS_EXTRAS:
                try:
                    payload = json.loads(body) if body else {}
                    answer = _json(recording_start, 200, extras.answer(operation, region, params, query, payload))
                except AwsError as err:
                    answer = _json(recording_start, err.status, {"message": str(err)}, err.code)
            else:
                answer = list(moto_app(environ, recording_start))
                if service == "eks" and operation == "DeleteCluster" and status and status[0] == "200":
                    extras.forget(params.get("name", ""))
        finally:
            recorder.add({"service": service, "operation": operation, "key": key, "status": int(status[0]) if status else 0, "path": path})
        return answer

    return app


def enter_network_of(pid: int) -> None:
    """Move this process into the network namespace of `pid` (a pod's process on this machine)."""
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if ctypes.CDLL("libc.so.6", use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into the network namespace of process {pid}")
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> int:
    # The AWS managed policies the run attaches exist in every real account.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(prog="python -m labkit.eks.standin", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="the loopback port (default: any free one)")
    parser.add_argument("--pod-pid", type=int, default=None, help="also serve inside this process's network namespace (a pod's)")
    parser.add_argument("--pod-port", type=int, default=None, help="the port in the pod's network (with --pod-pid)")
    parser.add_argument("--record", required=True, help="file to append one JSON line per request to")
    parser.add_argument("--kubernetes", required=True, help="the minor EKS 'offers' (the local cluster's)")
    parser.add_argument("--addon", action="append", default=[], metavar="NAME=VERSION", help="an add-on EKS 'offers'")
    args = parser.parse_args(argv)
    extras = EksExtras(args.kubernetes, dict(a.split("=", 1) for a in args.addon), DEFAULT_ACCOUNT_ID)
    app = wrap(DomainDispatcherApplication(create_backend_app), Recorder(args.record), extras)
    # One socket on this machine's loopback, bound before entering the pod's namespace (a socket
    # keeps the namespace it was made in), one on the pod's address: the same stand-in for both.
    servers = [make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)]
    where = [f"127.0.0.1:{servers[0].server_port}"]
    if args.pod_pid is not None:
        if args.pod_port is None:
            parser.error("--pod-pid needs --pod-port")
        enter_network_of(args.pod_pid)
        servers.append(make_server("0.0.0.0", args.pod_port, app, threaded=True, request_handler=MotoRequestHandler))
        where.append(f"the pod's network on port {args.pod_port}")
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"standin: serving on {' and '.join(where)}", flush=True)
    servers[0].serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
