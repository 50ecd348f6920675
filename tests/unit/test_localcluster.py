"""The local cluster tool's pure parts: pins, configs that encode this machine's facts,
certificates, iptables clean-up scope, and the run wrapper's always-down promise."""

from __future__ import annotations

import http.server
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcluster import cli, components, network, pki, runtime, versions
from localcluster import cluster as lifecycle
from localcluster.build import Binaries
from localcluster.layout import ADMIN_KUBECONFIG, GO_MOD, PKI_DIR, write_if_changed
from stackbase.ui import ToolError

PINS = versions.load()


def test_pins_come_from_versions_env() -> None:
    from labkit import settings

    assert settings.kubernetes_version() == PINS.kubernetes
    assert PINS.staging == "v0." + PINS.kubernetes.removeprefix("v").split(".", 1)[1]


def test_go_mod_must_match_the_pins(tmp_path: Path) -> None:
    versions.check_go_mod(PINS)  # the committed wrapper module agrees
    stale = tmp_path / "go.mod"
    stale.write_text(GO_MOD.read_text().replace(f"k8s.io/kubernetes {PINS.kubernetes}", "k8s.io/kubernetes v1.0.0"))
    with pytest.raises(ToolError, match=f"k8s.io/kubernetes is not {PINS.kubernetes}"):
        versions.check_go_mod(PINS, stale)


def test_kubelet_config_fits_this_machine() -> None:
    config = components.kubelet_config()
    assert config["cgroupDriver"] == "cgroupfs"  # no systemd
    assert config["failCgroupV1"] is False  # cgroups v1 host, Kubernetes >= 1.35
    assert config["imageGCHighThresholdPercent"] == 100  # nothing can be pulled again


def test_containerd_config_fits_this_machine() -> None:
    text = runtime.containerd_config(PINS.pause_image)
    assert "restrict_oom_score_adj = true" in text  # no CAP_SYS_RESOURCE
    assert "SystemdCgroup = false" in text
    assert f'sandbox_image = "{PINS.pause_image}"' in text


def test_iptables_cleanup_touches_only_its_own_chains() -> None:
    dump = "\n".join(
        [
            "*nat",
            ":PREROUTING ACCEPT [0:0]",
            ":KUBE-SERVICES - [0:0]",
            ":CNI-abc123 - [0:0]",
            ":USER-CHAIN - [0:0]",
            "-A PREROUTING -j KUBE-SERVICES",
            "-A PREROUTING -j USER-CHAIN",
            "-A CNI-abc123 -j ACCEPT",
            "-A USER-CHAIN -p tcp -j ACCEPT",
            "COMMIT",
        ]
    )
    kept, changed = network._clean_table_dump(dump)
    assert changed
    assert "KUBE-" not in kept
    assert "CNI-" not in kept
    assert ":USER-CHAIN - [0:0]" in kept
    assert "-A PREROUTING -j USER-CHAIN" in kept


def test_unchanged_config_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "kube-proxy.yaml"
    write_if_changed(path, "a: 1\n")
    os.utime(path, (1, 1))
    write_if_changed(path, "a: 1\n")
    assert path.stat().st_mtime == 1
    write_if_changed(path, "a: 2\n")
    assert path.read_text() == "a: 2\n"


@pytest.mark.parametrize("command_exit", [0, 3])
def test_run_always_brings_the_cluster_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command_exit: int) -> None:
    calls: list[str] = []
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "kubelet.log").write_text("kubelet log")
    monkeypatch.setattr(lifecycle, "up", lambda v: calls.append("up"))
    monkeypatch.setattr(lifecycle, "down", lambda: calls.append("down"))
    monkeypatch.setattr(cli, "LOG_DIR", logs)
    monkeypatch.setattr("shutil.which", lambda name: None)
    seen = tmp_path / "seen"
    code = cli.run_command(PINS, ["--", "sh", "-c", f'echo "$KUBECONFIG" > {seen}; exit {command_exit}'], tmp_path / "saved", keep=False)
    assert code == command_exit
    assert calls == ["up", "down"]
    assert seen.read_text().strip() == str(ADMIN_KUBECONFIG)
    assert (tmp_path / "saved" / "kubelet.log").read_text() == "kubelet log"


def test_run_brings_it_down_when_up_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[str] = []

    def broken_up(v: object) -> None:
        raise ToolError("etcd exited")

    monkeypatch.setattr(lifecycle, "up", broken_up)
    monkeypatch.setattr(lifecycle, "down", lambda: calls.append("down"))
    monkeypatch.setattr(cli, "LOG_DIR", tmp_path)
    with pytest.raises(ToolError, match="etcd exited"):
        cli.run_command(PINS, ["--", "true"], None, keep=False)
    assert calls == ["down"]


def test_run_needs_a_command() -> None:
    with pytest.raises(ToolError, match="run needs a command"):
        cli.run_command(PINS, ["--"], None, keep=False)


def test_etcd_admits_only_tls_clients_with_a_certificate_of_its_ca() -> None:
    etcd = components.etcd(Binaries(Path("/kube"), Path("/etcd"))).argv
    flags = dict(arg.split("=", 1) for arg in etcd[1:])
    assert not [arg for arg in etcd if "http://" in arg], etcd
    for url in ("--listen-client-urls", "--advertise-client-urls", "--listen-peer-urls", "--initial-advertise-peer-urls"):
        assert flags[url].startswith("https://127.0.0.1:"), url
    assert flags["--client-cert-auth"] == flags["--peer-client-cert-auth"] == "true"
    assert flags["--trusted-ca-file"] == flags["--peer-trusted-ca-file"] == str(PKI_DIR / "etcd" / "ca.crt")
    assert (flags["--cert-file"], flags["--key-file"]) == (str(PKI_DIR / "etcd/server.crt"), str(PKI_DIR / "etcd/server.key"))
    assert (flags["--peer-cert-file"], flags["--peer-key-file"]) == (str(PKI_DIR / "etcd/peer.crt"), str(PKI_DIR / "etcd/peer.key"))
    apiserver = dict(arg.split("=", 1) for arg in components.apiserver(Binaries(Path("/kube"), Path("/etcd")), "10.0.0.9").argv[1:])
    assert apiserver["--etcd-servers"] == f"https://127.0.0.1:{flags['--listen-client-urls'].rsplit(':', 1)[1]}"
    assert apiserver["--etcd-cafile"] == str(PKI_DIR / "etcd/ca.crt")
    assert (apiserver["--etcd-certfile"], apiserver["--etcd-keyfile"]) == (
        str(PKI_DIR / "apiserver-etcd-client.crt"),
        str(PKI_DIR / "apiserver-etcd-client.key"),
    )


def test_pki_asks_for_etcd_certificates_of_their_own_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What is asked of openssl (a stand-in here: no host package needed)."""
    calls: list[tuple[str, ...]] = []

    def openssl(*args: str) -> None:
        calls.append(args)
        for flag in ("-keyout", "-out"):
            if flag in args:
                Path(args[args.index(flag) + 1]).write_text("x")

    monkeypatch.setattr(pki, "PKI_DIR", tmp_path)
    monkeypatch.setattr(pki, "_openssl", openssl)
    pki.ensure_pki("10.0.0.9")
    signed = {call[call.index("-out") + 1]: call for call in calls if call[:2] == ("x509", "-req")}
    etcd_ca = [call for call in calls if call[:2] == ("req", "-x509") and "/CN=labcluster-etcd-ca" in call]
    assert len(etcd_ca) == 1
    assert str(tmp_path / "etcd/ca.key") in etcd_ca[0]
    usages = {
        "etcd/server": "serverAuth,clientAuth",
        "etcd/peer": "serverAuth,clientAuth",
        "etcd/healthcheck-client": "clientAuth",
        "apiserver-etcd-client": "clientAuth",
    }
    for stem, usage in usages.items():
        call = signed[str(tmp_path / f"{stem}.crt")]
        assert call[call.index("-CA") + 1] == str(tmp_path / "etcd/ca.crt"), stem
        ext = (tmp_path / f"{stem}.ext").read_text()
        assert f"extendedKeyUsage={usage}\n" in ext, stem
        assert ("subjectAltName=DNS:localhost,IP:127.0.0.1" in ext) == ("serverAuth" in usage), stem
    assert signed[str(tmp_path / "kubelet.crt")][signed[str(tmp_path / "kubelet.crt")].index("-CA") + 1] == str(tmp_path / "ca.crt")
    calls.clear()
    (tmp_path / "etcd/peer.crt").unlink()  # a missing one is made again, and only it
    pki.ensure_pki("10.0.0.9")
    assert [call[call.index("-out") + 1] for call in calls if call[0] == "x509"] == [str(tmp_path / "etcd/peer.crt")]
    calls.clear()
    (tmp_path / "etcd/ca.key").unlink()  # a new etcd CA: all it signs is signed again, nothing else
    pki.ensure_pki("10.0.0.9")
    assert sorted(call[call.index("-out") + 1] for call in calls if call[0] == "x509") == sorted(str(tmp_path / f"{s}.crt") for s in usages)


needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl is not on PATH: localcluster makes its certificates with it"
)


@pytest.fixture
def made_pki(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(pki, "PKI_DIR", tmp_path / "pki")
    pki.ensure_pki("10.0.0.9")
    return tmp_path / "pki"


def _verifies(ca: Path, purpose: str, cert: Path) -> bool:
    result = subprocess.run(["openssl", "verify", "-CAfile", str(ca), "-purpose", purpose, str(cert)], capture_output=True, text=True)
    return result.returncode == 0


@needs_openssl
def test_etcd_certificates_verify_for_their_use_only(made_pki: Path) -> None:
    etcd_ca = made_pki / "etcd/ca.crt"
    for stem in ("etcd/server", "etcd/peer"):
        assert _verifies(etcd_ca, "sslserver", made_pki / f"{stem}.crt"), stem
        assert _verifies(etcd_ca, "sslclient", made_pki / f"{stem}.crt"), stem
    for stem in ("apiserver-etcd-client", "etcd/healthcheck-client"):
        assert _verifies(etcd_ca, "sslclient", made_pki / f"{stem}.crt"), stem
        assert not _verifies(etcd_ca, "sslserver", made_pki / f"{stem}.crt"), stem
    assert not _verifies(etcd_ca, "sslclient", made_pki / "kubelet.crt")  # the cluster CA's do not open etcd
    assert not _verifies(made_pki / "ca.crt", "sslserver", made_pki / "etcd/server.crt")
    assert not (made_pki / "etcd/server.key").stat().st_mode & 0o077


@pytest.fixture
def tls_etcd(made_pki: Path) -> Iterator[tuple[int, list[bool]]]:
    """An HTTPS /health on loopback that, as etcd with --client-cert-auth, requires a client
    certificate of the etcd CA; yields its port and whether each client showed one."""
    peers: list[bool] = []  # whether each client showed a certificate

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert isinstance(self.connection, ssl.SSLSocket)
            peers.append(bool(self.connection.getpeercert()))
            body = b'{"health":"true","reason":""}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(made_pki / "etcd/server.crt", made_pki / "etcd/server.key")
    context.load_verify_locations(made_pki / "etcd/ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED
    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], peers
    finally:
        server.shutdown()
        server.server_close()


@needs_openssl
def test_the_etcd_health_probe_speaks_tls_with_a_client_certificate(
    tls_etcd: tuple[int, list[bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, peers = tls_etcd
    monkeypatch.setattr(lifecycle, "ETCD_CLIENT_PORT", port)
    assert lifecycle._etcd_healthy() is True
    assert peers == [True], "the probe showed no client certificate"
