"""The secure profile's own certificate authority, and the certificates it signs for each service.

One CA per state folder (``STATE/security/ca.pem`` + its key), made on first use with ``cryptography``.
Each service (every Kafka node, the registry, the dashboard, PostgreSQL, Redis) gets a certificate for
the names clients dial: ``127.0.0.1``, ``localhost`` and the host it is configured with. Files are PEM,
the form Kafka (``ssl.keystore.type=PEM``), librdkafka, uvicorn, PostgreSQL and Redis all read;
private keys are unencrypted PKCS#8, created 0600 (:mod:`streamwise.secret_files`).

A certificate is re-issued when it is missing or near its end, never otherwise: a service restarted
keeps the identity clients already trust.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from streamwise.config import Settings
from streamwise.secret_files import private_dir, write_secret

CA_DAYS = 3650
CERT_DAYS = 825
RENEW_BEFORE = dt.timedelta(days=30)
ORGANIZATION = "streamwise local platform"


@dataclass(frozen=True)
class TlsFiles:
    """A service's certificate, its private key, the CA that signed it, and both in one file
    (``bundle``: key then certificate chain, Kafka's PEM keystore form)."""

    cert: Path
    key: Path
    ca: Path
    bundle: Path


def security_dir(settings: Settings) -> Path:
    """``STATE/security``, created 0700."""
    return private_dir(settings.security.folder(settings.state))


def ca_file(settings: Settings) -> Path:
    """The CA's certificate (public): what every client trusts. Made on first call."""
    return _ca(settings)[0]


def certificate(settings: Settings, name: str, hosts: tuple[str, ...] = ()) -> TlsFiles:
    """The TLS files of service ``name`` (a file-name-safe word: ``kafka-1``, ``registry``...), valid for
    127.0.0.1, localhost and ``hosts``; made or renewed on demand, signed by the project's CA."""
    folder = private_dir(security_dir(settings) / "certs")
    cert_path, key_path, bundle = folder / f"{name}.pem", folder / f"{name}.key", folder / f"{name}.bundle.pem"
    ca_path, ca_cert, ca_key = _ca(settings)
    names = _subject_names(hosts)
    if not (_fresh(cert_path) and key_path.exists() and bundle.exists() and _covers(cert_path, names)):
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key_pem, cert_pem = _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)
        write_secret(key_path, key_pem)
        write_secret(bundle, key_pem + cert_pem + ca_path.read_bytes())
        cert_path.write_bytes(cert_pem)
    return TlsFiles(cert=cert_path, key=key_path, ca=ca_path, bundle=bundle)


def _ca(settings: Settings) -> tuple[Path, x509.Certificate, ec.EllipticCurvePrivateKey]:
    folder = security_dir(settings)
    cert_path, key_path = folder / "ca.pem", folder / "ca.key"
    if _fresh(cert_path) and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cert_path, x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name("streamwise local CA")
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_secret(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # A new CA makes every certificate it did not sign useless: issue them again on demand.
    for old in (folder / "certs").glob("*.pem") if (folder / "certs").is_dir() else ():
        old.unlink()
    return cert_path, cert, key


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _subject_names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in ("127.0.0.1", "localhost", *hosts):
        try:
            entry: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            entry = x509.DNSName(host)
        if entry not in names:
            names.append(entry)
    return names


def _covers(cert_path: Path, names: list[x509.GeneralName]) -> bool:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    present = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return all(name in present for name in names)


def _fresh(cert_path: Path) -> bool:
    if not cert_path.exists():
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > RENEW_BEFORE


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
