"""The broker's TLS: a private certificate authority (made once, then kept: every device trusts it)
and the broker's server certificate signed by it. EC P-256 keys, PEM files; the keys are written
0600 (``write_private_text``), the certificates are public."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from humiao.files import private_dir, write_private_text

CA_CERT, CA_KEY = "ca.crt", "ca.key"
SERVER_CERT, SERVER_KEY = "server.crt", "server.key"
DEFAULT_NAMES = ["localhost", "127.0.0.1"]
CA_DAYS = 3650
SERVER_DAYS = 730
RENEW_DAYS = 30  # a server certificate closer than this to its end is made again
_BACKDATE = dt.timedelta(minutes=5)  # clocks of the broker's clients may be a little behind


class PkiError(RuntimeError):
    """A CA or certificate that cannot be used (half of it missing, unreadable, not a CA)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tmp.chmod(0o644)
    tmp.replace(path)


def load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as err:
        raise PkiError(f"certificate {path}: {err}") from None


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise PkiError(f"private key {path}: {err}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"private key {path}: not an EC key")
    return key


def _normal(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower()


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def cert_names(cert: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses a certificate is valid for (its subject alternative names)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in san.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    ]


def make_ca(directory: Path, common_name: str = "Humiao broker CA", days: int = CA_DAYS) -> tuple[Path, Path]:
    """(certificate, key) of the CA in ``directory`` (``ca.crt``, ``ca.key``): an existing CA is kept
    (devices trust it), a missing one is made; half a CA (one file without the other) is an error,
    never overwritten."""
    directory = private_dir(Path(directory))
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    if cert_path.exists() or key_path.exists():
        if not (cert_path.exists() and key_path.exists()):
            missing = key_path if cert_path.exists() else cert_path
            raise PkiError(f"{missing} is missing beside the other half of the CA: restore it, or remove both")
        cert, key = load_cert(cert_path), load_key(key_path)
        if cert.public_key() != key.public_key():
            raise PkiError(f"{key_path} is not the key of {cert_path}")
        return cert_path, key_path
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
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
    write_private_text(key_path, _key_pem(key))
    _write_cert(cert_path, cert)
    return cert_path, key_path


def make_server_cert(
    directory: Path,
    ca_cert: Path,
    ca_key: Path,
    names: list[str] | None = None,
    days: int = SERVER_DAYS,
) -> tuple[Path, Path]:
    """(certificate, key): a new key and certificate for the broker (``server.crt``, ``server.key``
    in ``directory``), valid for ``names`` (DNS names and IP addresses; default localhost and
    127.0.0.1), signed by the CA."""
    names = list(dict.fromkeys(names or DEFAULT_NAMES))
    directory = private_dir(Path(directory))
    issuer, issuer_key = load_cert(ca_cert), load_key(ca_key)
    key = _new_key()
    now = _now()
    cert = server_certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]),
        key,
        names,
        min(now + dt.timedelta(days=days), issuer.not_valid_after_utc),
        issuer=(issuer.subject, issuer_key),
    )
    cert_path, key_path = directory / SERVER_CERT, directory / SERVER_KEY
    write_private_text(key_path, _key_pem(key))
    _write_cert(cert_path, cert)
    return cert_path, key_path


def server_certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    names: list[str],
    not_after: dt.datetime,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
) -> x509.Certificate:
    """A TLS server certificate (not a CA; digital signature; server auth) for ``names`` (DNS names and IP
    addresses), valid from a few minutes ago to ``not_after``: signed by ``issuer`` (its name and key) or, with
    none, by ``key`` itself (self-signed)."""
    issuer_name, issuer_key = issuer if issuer is not None else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(_san(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def server_cert_current(cert_path: Path, key_path: Path, ca_cert: Path, names: list[str]) -> bool:
    """Whether the broker's certificate can be kept: there with its key, issued by this CA, for
    exactly these names, and not within ``RENEW_DAYS`` of its end."""
    if not (Path(cert_path).exists() and Path(key_path).exists()):
        return False
    try:
        cert, key, ca = load_cert(cert_path), load_key(key_path), load_cert(ca_cert)
    except PkiError:
        return False
    if cert.public_key() != key.public_key() or cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if sorted(set(map(_normal, cert_names(cert)))) != sorted(set(map(_normal, names))):
        return False
    return cert.not_valid_after_utc - _now() > dt.timedelta(days=RENEW_DAYS)
