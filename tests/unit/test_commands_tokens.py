"""Signed tokens: what verifies, and every malformed or untimely token refused."""

from __future__ import annotations

import base64
import json

import pytest

from commands.tokens import MAX_CLOCK_SKEW_SECONDS, TOKEN_LIFETIME_SECONDS, TokenCodec
from domain.errors import Unauthorized

KEY = b"k" * 32
NOW = 1_800_000_000.0


def _issue(codec: TokenCodec, now: float = NOW) -> str:
    token, _ = codec.issue("u1", "alice", "p1", "demo", ("member",), now=now)
    return token


def test_a_token_verifies_with_its_claims() -> None:
    codec = TokenCodec(KEY)
    claims = codec.verify(_issue(codec), now=NOW + 10)
    assert (claims.user_id, claims.project_id, claims.roles) == ("u1", "p1", ("member",))


def test_an_expired_token_is_refused() -> None:
    codec = TokenCodec(KEY)
    with pytest.raises(Unauthorized, match="expired"):
        codec.verify(_issue(codec), now=NOW + TOKEN_LIFETIME_SECONDS + 1)


def test_a_token_issued_in_the_future_is_refused() -> None:
    codec = TokenCodec(KEY)
    token = _issue(codec, now=NOW + MAX_CLOCK_SKEW_SECONDS + 5)
    with pytest.raises(Unauthorized):
        codec.verify(token, now=NOW)


def test_a_token_within_the_clock_skew_is_accepted() -> None:
    codec = TokenCodec(KEY)
    token = _issue(codec, now=NOW + MAX_CLOCK_SKEW_SECONDS - 5)
    assert codec.verify(token, now=NOW).user_id == "u1"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "é",  # non-ASCII in the signature (a latin-1 header byte)
        lambda t: "ü" + t,  # non-ASCII in the payload
        lambda t: t.replace(".", "\u00ff"),
        lambda t: t.split(".")[0],  # no signature at all
        lambda t: "",
        lambda t: "." * 5000,
    ],
)
def test_a_malformed_token_is_unauthorized(mangle: object) -> None:
    codec = TokenCodec(KEY)
    with pytest.raises(Unauthorized):
        codec.verify(mangle(_issue(codec)), now=NOW)  # type: ignore[operator]


@pytest.mark.parametrize("payload", [[1, 2], "text", 7, {"user_id": "u"}, {"roles": 5}])
def test_a_signed_payload_of_the_wrong_shape_is_unauthorized(payload: object) -> None:
    """Even a payload signed with the key (a bug, or a leaked key) never gives a 500."""
    codec = TokenCodec(KEY)
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthorized):
        codec.verify(f"{body}.{codec._sign(body)}", now=NOW)


def test_a_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(Unauthorized):
        TokenCodec(b"x" * 32).verify(_issue(TokenCodec(KEY)), now=NOW)


def test_the_lifetime_is_the_codecs_setting() -> None:
    codec = TokenCodec(KEY, lifetime_seconds=60)
    token = _issue(codec)
    assert codec.verify(token, now=NOW + 59).expires_at == NOW + 60
    with pytest.raises(Unauthorized):
        codec.verify(token, now=NOW + 61)
