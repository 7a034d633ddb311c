"""The metadata proxy (a network worker) and the API's metadata service
agree on the headers and the signature, so neither can drift alone."""

from __future__ import annotations

from api import metadata
from api.metadata import hostname_of, signature
from workers.drivers import metadata_proxy


def test_the_api_checks_what_the_proxy_signs() -> None:
    assert signature(b"s", "net", "10.0.0.5") == metadata_proxy.sign(b"s", "net", "10.0.0.5")
    assert signature(b"s", "net", "10.0.0.5") != signature(b"t", "net", "10.0.0.5")
    assert metadata.NETWORK_HEADER == metadata_proxy.NETWORK_HEADER
    assert metadata.ADDRESS_HEADER == metadata_proxy.ADDRESS_HEADER
    assert metadata.SIGNATURE_HEADER == metadata_proxy.SIGNATURE_HEADER


def test_host_names_are_sanitized_as_nova_does() -> None:
    assert hostname_of("Web Server_1") == "web-server-1"
    assert hostname_of("../../etc/passwd; rm -rf") == "etcpasswd-rm--rf"
    assert hostname_of("ünïcode") == "ncode"
    assert hostname_of("x" * 100) == "x" * 63
    assert hostname_of("!!!") == "server"
