"""x509 keypairs (compute 2.2), Nova's certificates for password-less WinRM:
an imported certificate is checked, or the cloud makes an RSA key and a
self-signed client certificate for the user. The fingerprint Nova shows is
the SHA-1 of the certificate (a label, not a security check). Everything is
done by the `cryptography` library."""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from domain.errors import InvalidInput

KEY_BITS = 2048
VALID_DAYS = 3650  # as Nova's certificates
UPN = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # Microsoft's user principal name
_UTF8_STRING_TAG = 0x0C


@dataclass(frozen=True)
class GeneratedCertificate:
    certificate: str  # PEM: what the keypair shows as its public_key
    private_key: str  # base64 of a PKCS#12 bundle without a password, handed over once


def checked_certificate(text: str) -> str:
    """The PEM certificate as given (trimmed), or InvalidInput."""
    pem = text.strip()
    try:
        x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidInput(f"Keypair data is invalid: {exc}") from None
    return pem


def fingerprint(certificate: str) -> str:
    digest = x509.load_pem_x509_certificate(certificate.encode()).fingerprint(hashes.SHA1())  # noqa: S303
    return ":".join(f"{byte:02x}" for byte in digest)


def generate(user_id: str, now: datetime.datetime) -> GeneratedCertificate:
    """A client certificate for ``user_id`` (CN=user, UPN user@localhost), from ``now``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id)])
    upn = x509.OtherName(UPN, _der_utf8_string(f"{user_id}@localhost"))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([upn]), critical=False)
        .sign(key, hashes.SHA256())
    )
    bundle = pkcs12.serialize_key_and_certificates(
        None, key, certificate, None, serialization.NoEncryption()
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    return GeneratedCertificate(pem, base64.b64encode(bundle).decode())


def _der_utf8_string(text: str) -> bytes:
    """A DER UTF8String: what an otherName's value holds for a UPN."""
    data = text.encode()
    if len(data) < 0x80:
        length = bytes([len(data)])
    else:
        size = (len(data).bit_length() + 7) // 8
        length = bytes([0x80 | size]) + len(data).to_bytes(size, "big")
    return bytes([_UTF8_STRING_TAG]) + length + data
