"""A self-signed certificate for the NTS-KE server (a lab, or a site without a PKI).

The certificate is its own trust anchor: clients name it in chrony's `ntstrustedcerts`.
Names that parse as IP addresses become IP SANs, the others DNS SANs; clients check the
name they connect to against them (chrony: the `server NAME nts` name).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from orchestrator.errors import ConfigError


def self_signed(names: list[str], days: int = 825) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for `names` (ECDSA P-256, valid `days` days)."""
    if not names:
        raise ConfigError("give at least one --name for the certificate")
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            try:
                sans.append(x509.DNSName(name.encode("idna").decode("ascii")))
            except UnicodeError:
                raise ConfigError(f"--name {name!r} is neither a DNS name nor an IP") from None
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_self_signed(cert: Path, key: Path, names: list[str], days: int = 825) -> None:
    """Write both files (the key 0600); ConfigError when a file cannot be written."""
    cert_pem, key_pem = self_signed(names, days)
    for path, data, mode in ((key, key_pem, 0o600), (cert, cert_pem, 0o644)):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(path, mode)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
