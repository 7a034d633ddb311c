"""x509 keypairs (commands/x509_keys.py): a generated client certificate, and
a checked imported one."""

from datetime import UTC, datetime

import pytest
from cryptography import x509

from commands import x509_keys
from domain.errors import InvalidInput

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_generated_certificate_names_the_user_and_its_fingerprint_is_sha1() -> None:
    made = x509_keys.generate("user-1", NOW)
    cert = x509.load_pem_x509_certificate(made.certificate.encode())
    assert cert.subject.rfc4514_string() == "CN=user-1"
    upn = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert b"user-1@localhost" in upn.get_values_for_type(x509.OtherName)[0].value
    assert len(x509_keys.fingerprint(made.certificate).split(":")) == 20
    assert x509_keys.checked_certificate(made.certificate + "\n") == made.certificate.strip()
    assert made.private_key  # a PKCS#12 bundle, handed over once


def test_an_imported_certificate_must_be_one() -> None:
    with pytest.raises(InvalidInput):
        x509_keys.checked_certificate(
            "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"
        )
