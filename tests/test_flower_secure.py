"""The secure deployment on localhost: TLS everywhere, only registered SuperNodes get in.

This runs the README recipe ("Across machines", secure): throwaway credentials from
`fedaid_lite.flower.security`, a SuperLink with `--ssl-*` and `--enable-supernode-auth`, each SuperNode's
public key registered with `flwr supernode register`, SuperNodes with `--root-certificates` and
`--auth-supernode-private-key`. Marked `flower` (subprocesses, Flower's 3 s polls): about a minute.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
from pathlib import Path

import pytest

pytest.importorskip("flwr")
pytestmark = pytest.mark.flower

import psutil  # noqa: E402

from fedaid_lite.config import Experiment  # noqa: E402
from fedaid_lite.flower.deployment import LocalDeployment  # noqa: E402
from fedaid_lite.flower.progress import report_rounds  # noqa: E402
from fedaid_lite.flower.security import Credentials, make_credentials, node_key_pair  # noqa: E402
from fedaid_lite.flower.settings import to_run_config  # noqa: E402
from fedaid_lite.history import History  # noqa: E402

APP = Path(__file__).resolve().parents[1] / "flower_app"
SITES = 2
REFUSED_WAIT_S = 20     # a refused SuperNode gives up (and exits) after this long without the SuperLink


def test_credentials_are_a_ca_a_server_certificate_and_ssh_node_keys(tmp_path):
    """The files flwr 1.42 reads: the server certificate chains to the CA and names 127.0.0.1, node keys are
    OpenSSH EC keys flwr accepts, private keys are not readable by others. If this fails, the SuperLink or
    SuperNodes below would refuse to start, or a private key would be world-readable."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key
    from flwr.cli.supernode.register import try_load_public_key

    creds = make_credentials(tmp_path, nodes=2)
    server = x509.load_pem_x509_certificate(creds.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(creds.ca_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    for key in creds.node_keys:
        load_ssh_private_key(key.read_bytes(), None)
        assert try_load_public_key(Credentials.public_key(key))      # flwr's own check (NIST EC curve)
        assert key.stat().st_mode & 0o077 == 0
    assert creds.server_key.stat().st_mode & 0o077 == 0
    assert not list(tmp_path.glob("ca.key*")), "the throwaway CA's private key must not be written"
    with pytest.raises(ValueError, match="hosts is empty"):
        make_credentials(tmp_path / "x", hosts=[])
    before = creds.ca_cert.read_bytes()
    with pytest.raises(ValueError, match="already holds credentials"):      # never overwrite keys in use
        make_credentials(tmp_path)
    assert creds.ca_cert.read_bytes() == before


def test_deployment_security_arguments_are_checked_before_anything_starts(tmp_path):
    """Credentials with fewer keys than SuperNodes, threads without `--isolation process`, or in-process (plain
    text) SuperNodes or server with credentials fail at once with the fix named; nothing is started. If this
    fails, a misconfigured deployment would start processes and then hang (a SuperNode without a key waits to
    be let in; a node nobody serves times out) or run a "secure" deployment partly in plain text."""
    creds = make_credentials(tmp_path / "certs", nodes=1)
    nodes = [{"partition-id": k, "num-partitions": 2} for k in range(2)]
    with pytest.raises(ValueError, match="nodes=2"):
        LocalDeployment(tmp_path / "a", nodes, credentials=creds)
    with pytest.raises(ValueError, match='isolation="process"'):
        LocalDeployment(tmp_path / "b", nodes, isolation="subprocess", in_process=("clients",))
    creds2 = make_credentials(tmp_path / "certs2", nodes=2)
    for part in ("nodes", "server"):
        with pytest.raises(ValueError, match="plain text"):
            LocalDeployment(tmp_path / "b", nodes, credentials=creds2, in_process=(part,))
    with pytest.raises(ValueError, match="among clients, nodes, server"):
        LocalDeployment(tmp_path / "b", nodes, in_process=("superlink",))
    plain = LocalDeployment(tmp_path / "c", nodes)
    with pytest.raises(ValueError, match="credentials="):
        plain.add_node(nodes[0], insecure=False)
    assert plain.superlink is None and not plain.nodes and not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()


def test_round_progress_ignores_a_previous_runs_history(tmp_path):
    """`LocalDeployment.run(on_round=...)` reads history.json as the server rewrites it: rounds of an earlier
    run left in the same folder are not reported, each new round is reported once. If this fails, a notebook
    re-run would print stale rounds, or none until the new run outgrew the old one."""
    history = tmp_path / "history.json"
    history.write_text(json.dumps({"records": [{"round": 1}, {"round": 2}, {"round": 3}]}))
    stale = history.stat().st_mtime_ns
    seen: list[int] = []
    assert report_rounds(history, 0, lambda r: seen.append(r["round"]), stale) == 0 and seen == []
    history.write_text(json.dumps({"records": [{"round": 1}]}))
    os.utime(history, ns=(stale + 10**9, stale + 10**9))         # the server's rewrite (coarse clocks too)
    count = report_rounds(history, 0, lambda r: seen.append(r["round"]), stale)
    history.write_text(json.dumps({"records": [{"round": 1}, {"round": 2}]}))
    count = report_rounds(history, count, lambda r: seen.append(r["round"]), stale)
    assert seen == [1, 2] and count == 2


def test_tls_deployment_admits_registered_supernodes_only(tmp_path, tiny_manifest):
    """Two registered SuperNodes train a FedAvg round over TLS; a SuperNode with an unregistered key and a
    plain-text SuperNode are refused (they exit without ever joining); a plain-text HTTP request gets no
    answer; every listening socket is on 127.0.0.1. If this fails, the README's secure recipe does not do
    what it says: an unknown hospital could join, or traffic could go unencrypted or listen on the network."""
    creds = make_credentials(tmp_path / "certs", nodes=SITES)
    intruder = node_key_pair(tmp_path / "certs" / "intruder.key")       # a valid key nobody registered
    manifest, sites = tiny_manifest(SITES)
    cfg = Experiment.tiny().override({"data.manifest": str(manifest), "fed.algorithm": "fedavg", "fed.rounds": 1})
    out = tmp_path / "out"
    run_config = to_run_config(cfg, output_dir=str(out), min_nodes=SITES)
    nodes = [{"data-path": str(manifest), "site": s, "partition-id": i} for i, s in enumerate(sites)]
    rounds: list[int] = []
    fed = LocalDeployment(tmp_path / "deploy", nodes, credentials=creds)
    try:
        fed.start()
        unknown = fed.add_node(nodes[0], private_key=intruder, worker=False, max_wait_time=REFUSED_WAIT_S)
        plain = fed.add_node(nodes[1], insecure=True, worker=False, max_wait_time=REFUSED_WAIT_S)
        assert _plain_http_gets_no_answer(fed.port)
        _tls_handshake_with_ca(fed.port, creds.ca_cert)
        result = fed.run(APP, run_config, timeout=300, on_round=lambda r: rounds.append(r["round"]))
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        started = [fed.superlink, *fed.nodes, *fed.workers]
        procs = [psutil.Process(p.pid) for p in started if p.poll() is None]
        procs += [c for p in procs for c in p.children(recursive=True)]
        conns = [c for p in procs for c in _connections(p)]
        listening = [c.laddr for c in conns if c.status == psutil.CONN_LISTEN]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
        assert all(not c.raddr or c.raddr.ip == "127.0.0.1" for c in conns), conns
        assert unknown.wait(timeout=REFUSED_WAIT_S + 30) != 0
        assert plain.wait(timeout=REFUSED_WAIT_S + 30) != 0
    finally:
        fed.stop()
    assert rounds == [1]                                    # progress reported while the run went on
    history = History.load(out / "history.json")
    assert len(history.records) == 1 and len(history.records[0]["clients"]) == SITES
    assert history.records[0]["failed_clients"] == []
    # The unregistered key reached the SuperLink over TLS and was turned away by name; the plain-text node
    # never got an HTTP answer; only the two registered SuperNodes were ever activated.
    assert "Failed to activate SuperNode" in fed.log("supernode-2"), fed.log("supernode-2")[-2000:]
    assert "No SuperNode found with the given public key" in fed.log("superlink")
    # The plain-text node's last words depend on when the TLS server drops it: no HTTP response, or a reset.
    plain_log = fed.log("supernode-3")
    assert any(m in plain_log for m in ("Server disconnected without sending a response", "Connection reset by peer")), \
        plain_log[-2000:]
    assert "Activated" not in plain_log
    assert fed.log("superlink").count("[Fleet.ActivateNode] Activated node_id") == SITES


def _connections(proc: psutil.Process) -> list:
    try:
        return proc.net_connections(kind="inet")
    except psutil.Error:
        return []


def _plain_http_gets_no_answer(port: int) -> bool:
    """A plain-text HTTP request to the TLS port: the server must not answer it with HTTP."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try:
            reply = s.recv(64)
        except (ConnectionResetError, socket.timeout):
            reply = b""
    return not reply.startswith(b"HTTP/")


def _tls_handshake_with_ca(port: int, ca_cert) -> None:
    """A TLS client that trusts only the throwaway CA completes a handshake for 127.0.0.1 (hostname checked)."""
    context = ssl.create_default_context(cafile=str(ca_cert))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
