"""Throwaway credentials for a secure Flower deployment: a CA, the SuperLink's TLS certificate, SuperNode keys.

    python -m fedaid_lite.flower.security certs --host server.example.org --nodes 6

writes into `certs/`:
- `ca.crt`: a fresh certificate authority. The SuperLink gets it as `--ssl-ca-certfile`, every SuperNode
  and `flwr` (the `root-certificates` of a connection) trust it. Its private key is never written: nothing
  else can ever be signed with it, which is what "throwaway" means here;
- `server.pem`, `server.key`: the SuperLink's certificate, valid for every `--host` given (a DNS name or
  an IP address; the SuperNodes must reach the SuperLink by one of them);
- `supernode-<i>.key`, `supernode-<i>.pub`: one SuperNode's authentication key pair (EC P-384, OpenSSH
  format, what flwr 1.42 reads). The private key stays at hospital i (`flower-supernode
  --auth-supernode-private-key`); the public key is registered on the SuperLink with `flwr supernode
  register supernode-<i>.pub <connection>`.

For a study with real hospitals use certificates from your institution's CA; this is for trying the
secure path (tests/test_flower_secure.py runs exactly this recipe on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOCALHOST = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Credentials:
    """Paths of one deployment's CA certificate, SuperLink certificate and key, and SuperNode private keys."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    node_keys: tuple[Path, ...]     # OpenSSH private keys; each public key is the same path + ".pub"

    @staticmethod
    def public_key(private_key: Path) -> Path:
        """Where the public half of a SuperNode key lives (`supernode-0.key` -> `supernode-0.pub`)."""
        return private_key.with_suffix(".pub")


def make_credentials(folder: str | os.PathLike, hosts: Sequence[str] = LOCALHOST, nodes: int = 1,
                     days: int = 30) -> Credentials:
    """A fresh CA, a SuperLink certificate for `hosts`, and `nodes` SuperNode key pairs, written to `folder`."""
    if not hosts:
        raise ValueError("hosts is empty: give the names or IP addresses the SuperNodes use to reach the SuperLink")
    if nodes < 0 or days < 1:
        raise ValueError(f"nodes must be >= 0 and days >= 1, got {nodes} and {days}")
    out = Path(folder)
    suffixes = (".crt", ".pem", ".key", ".pub")
    existing = sorted(p.name for p in out.glob("*") if p.suffix in suffixes) if out.is_dir() else []
    if existing:   # keys already handed to hospitals or registered would silently stop working
        raise ValueError(f"{out} already holds credentials ({', '.join(existing[:3])}); choose an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedaid-lite throwaway CA")])
    ca = (_builder(ca_name, ca_name, ca_key.public_key(), now, days)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA384()))
    server_key = ec.generate_private_key(ec.SECP384R1())
    server = (_builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]), ca_name,
                       server_key.public_key(), now, days)
              .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA384()))
    _write(out / "ca.crt", ca.public_bytes(serialization.Encoding.PEM))
    _write(out / "server.pem", server.public_bytes(serialization.Encoding.PEM))
    _write(out / "server.key", server_key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()), private=True)
    keys = tuple(node_key_pair(out / f"supernode-{i}.key") for i in range(nodes))
    return Credentials(out / "ca.crt", out / "server.pem", out / "server.key", keys)


def node_key_pair(private_path: str | os.PathLike) -> Path:
    """Write a SuperNode key pair (EC P-384, OpenSSH): the private key at `private_path`, the public at `.pub`."""
    path = Path(private_path)
    key = ec.generate_private_key(ec.SECP384R1())
    _write(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                   serialization.NoEncryption()), private=True)
    _write(Credentials.public_key(path), key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                                        serialization.PublicFormat.OpenSSH) + b"\n")
    return path


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             now: datetime.datetime, days: int) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))      # tolerate a little clock skew
            .not_valid_after(now + datetime.timedelta(days=days)))


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write(path: Path, data: bytes, private: bool = False) -> None:
    # Private keys are created 0600 from the start (never world-readable, not even for a moment).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m fedaid_lite.flower.security FOLDER [--host H ...] [--nodes N] [--days D]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="where to write ca.crt, server.pem/.key and supernode-<i>.key/.pub")
    parser.add_argument("--host", action="append", help="a name or IP the SuperNodes use for the SuperLink "
                        "(repeatable; default 127.0.0.1 and localhost)")
    parser.add_argument("--nodes", type=int, default=1, help="SuperNode key pairs to write (default 1)")
    parser.add_argument("--days", type=int, default=30, help="certificate lifetime in days (default 30)")
    args = parser.parse_args(argv)
    try:
        creds = make_credentials(args.folder, args.host or LOCALHOST, args.nodes, args.days)
    except (ValueError, OSError) as err:
        parser.exit(2, f"error: {err}\n")
    print(f"wrote {creds.ca_cert}, {creds.server_cert}, {creds.server_key} "
          f"and {len(creds.node_keys)} SuperNode key pairs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
