"""Keys, certificates and tokens of the devstack's real control plane, made once per state directory.

A CA, one serving certificate signed by it (127.0.0.1 and localhost, used by kube-apiserver,
kube-controller-manager and kube-scheduler), the service-account signing key pair and the static
token file with one token per user. Everything is kept across restarts (etcd's data refers to the
service-account keys); files are private to the user (0600).
"""

from __future__ import annotations

import csv
import datetime
import io
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["ADMIN", "CONTROLLER_MANAGER", "SCHEDULER", "Pki", "TokenUser", "ensure_pki"]


@dataclass(frozen=True, slots=True)
class TokenUser:
    """A line of the apiserver's `--token-auth-file`: who a token authenticates as."""

    name: str
    uid: str
    groups: tuple[str, ...] = ()


ADMIN = TokenUser("kubernetes-admin", "1", ("system:masters",))
"""The devstack's own identity (kubeconfig for kubectl, kubelet, operator, worker, gateway); kubeadm's name for
the admin, and the emulator's."""
CONTROLLER_MANAGER = TokenUser("system:kube-controller-manager", "2")
SCHEDULER = TokenUser("system:kube-scheduler", "3")
USERS = (ADMIN, CONTROLLER_MANAGER, SCHEDULER)

_VALID = datetime.timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class Pki:
    """Where the files are."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.root / "serving.crt"

    @property
    def serving_key(self) -> Path:
        return self.root / "serving.key"

    @property
    def sa_key(self) -> Path:
        return self.root / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.root / "sa.pub"

    @property
    def tokens_file(self) -> Path:
        return self.root / "tokens.csv"

    def token(self, user: TokenUser) -> str:
        """The token of `user` from the token file."""
        for row in csv.reader(io.StringIO(self.tokens_file.read_text(encoding="utf-8"))):
            if len(row) >= 2 and row[1] == user.name:
                return row[0]
        raise LookupError(f"no token for {user.name!r} in {self.tokens_file}; delete {self.root} to regenerate it")


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _pem_key(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificates(pki: Pki) -> None:
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("xtrinode-devstack-ca")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + _VALID)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"), x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"), x509.DNSName("kubernetes.default.svc"),
        x509.DNSName("kubernetes.default.svc.cluster.local"),
    ]
    serving = (x509.CertificateBuilder().subject_name(_name("kube-apiserver")).issuer_name(ca_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + _VALID)
               .add_extension(x509.SubjectAlternativeName(names), critical=False)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    _write_private(pki.ca_key, _pem_key(ca_key))
    _write_private(pki.serving_key, _pem_key(key))
    _write_private(pki.serving_cert, serving.public_bytes(serialization.Encoding.PEM))
    _write_private(pki.ca_cert, ca.public_bytes(serialization.Encoding.PEM))  # last: marks the set complete


def _service_account_keys(pki: Pki) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_private(pki.sa_pub, public)
    _write_private(pki.sa_key, _pem_key(key))


def _tokens(pki: Pki) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for user in USERS:
        row = [secrets.token_urlsafe(32), user.name, user.uid]
        if user.groups:
            row.append(",".join(user.groups))
        writer.writerow(row)
    _write_private(pki.tokens_file, out.getvalue().encode())


def ensure_pki(root: Path) -> Pki:
    """The control plane's PKI under `root`, generated on first use and kept afterwards."""
    pki = Pki(root)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    if not (pki.ca_cert.exists() and pki.serving_cert.exists() and pki.serving_key.exists()):
        _certificates(pki)
    if not (pki.sa_key.exists() and pki.sa_pub.exists()):
        _service_account_keys(pki)
    if not pki.tokens_file.exists():
        _tokens(pki)
    return pki
