"""A throwaway CA and a serving certificate for the admission webhook on this machine.

`dev up` and the tests write them with `write_serving_pair`; the CA (PEM) goes into the
ValidatingWebhookConfiguration's `caBundle`, as cert-manager's CA injector does in a cluster.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["ServingPair", "write_serving_pair"]


@dataclass(frozen=True)
class ServingPair:
    ca_file: Path
    cert_file: Path
    key_file: Path

    @property
    def ca_pem(self) -> bytes:
        return self.ca_file.read_bytes()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_serving_pair(
    directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), *, common_name: str = "xtrinode-webhook",
    valid_days: int = 365,
) -> ServingPair:
    """Write `ca.crt`, `tls.crt` and `tls.key` (0600) into `directory` for `hosts` (IPs or DNS names)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(_name(f"{common_name}-ca")).issuer_name(_name(f"{common_name}-ca"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pair = ServingPair(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    pair.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    pair.key_file.touch(mode=0o600)
    pair.key_file.chmod(0o600)
    # Key first, then the certificate: a reloader that sees the new certificate finds its key already there.
    pair.key_file.write_bytes(key_bytes)
    pair.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair

