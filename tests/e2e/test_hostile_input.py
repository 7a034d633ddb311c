"""Hostile input on every route that takes a body: deep nesting, the wrong
media type, oversized bodies, malformed microversions and tokens. Each gets a
4xx in the OpenStack shape, and the ledger does not change."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from commands.tokens import TokenCodec
from e2e.helpers import (
    COMPUTE,
    MICROVERSION,
    Session,
    Stack,
    auth_body,
    boot_body,
    last_notification_id,
)

pytestmark = pytest.mark.e2e

JSON = {"Content-Type": "application/json"}
LIMIT = 1 << 20  # CLOUDLEDGER_MAX_JSON_BODY's default


@dataclass(frozen=True)
class Route:
    """A route with a body, who calls it, and a body it would accept."""

    name: str
    who: str  # "anonymous", "admin" or "member"
    method: str
    path: str
    valid: Callable[[dict[str, str]], dict[str, Any]]


ROUTES = [
    Route(
        "token",
        "anonymous",
        "POST",
        "/identity/v3/auth/tokens",
        lambda n: auth_body("admin", n["password"], "admin"),
    ),
    Route("boot", "member", "POST", f"{COMPUTE}/servers", lambda n: boot_body("h", n["image"])),
    Route(
        "action",
        "member",
        "POST",
        f"{COMPUTE}/servers/{uuid.uuid4()}/action",
        lambda n: {"os-stop": None},
    ),
    Route(
        "flavor",
        "admin",
        "POST",
        f"{COMPUTE}/flavors",
        lambda n: {
            "flavor": {"name": f"h-{uuid.uuid4().hex[:8]}", "ram": 64, "vcpus": 1, "disk": 1}
        },
    ),
    Route(
        "quota",
        "admin",
        "PUT",
        f"{COMPUTE}/os-quota-sets/{{member_project}}",
        lambda n: {"quota_set": {"instances": 17}},
    ),
    Route("image", "member", "POST", "/image/v2/images", lambda n: {"name": "h"}),
]


def _nested(levels: int, opener: str = "[", closer: str = "]") -> str:
    return opener * levels + closer * levels


# name -> (raw body from the valid one, extra headers, status, words in the message)
Body = Callable[[dict[str, Any]], bytes]
BODY_CLASSES: dict[str, tuple[Body, dict[str, str], int, str]] = {
    "list-10000-deep": (lambda v: _nested(10_000).encode(), JSON, 400, "nested"),
    "object-10000-deep": (
        lambda v: ('{"a":' * 10_000 + "1" + "}" * 10_000).encode(),
        JSON,
        400,
        "nested",
    ),
    "valid-body-33-deep": (
        lambda v: json.dumps({**v, "extra": json.loads(_nested(32))}).encode(),
        JSON,
        400,
        "nested",
    ),
    "no-content-type": (lambda v: json.dumps(v).encode(), {}, 415, "Content-Type"),
    "text-plain": (
        lambda v: json.dumps(v).encode(),
        {"Content-Type": "text/plain"},
        415,
        "Content-Type",
    ),
    "form-encoded": (
        lambda v: b"a=1",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "Content-Type",
    ),
    "just-over-the-limit": (
        lambda v: json.dumps({**v, "pad": "x" * LIMIT}).encode(),
        JSON,
        413,
        "larger than",
    ),
    "8-mb": (
        lambda v: json.dumps({**v, **{f"k{i}": "x" * 65_000 for i in range(130)}}).encode(),
        JSON,
        413,
        "larger than",
    ),
}


def _names(stack: Stack, member: Session, image_id: str) -> dict[str, str]:
    return {
        "password": stack.admin_password,
        "image": image_id,
        "member_project": member.project_id,
    }


def _headers(route: Route, admin: Session, member: Session) -> dict[str, str]:
    headers = dict(MICROVERSION)
    if route.who != "anonymous":
        session = admin if route.who == "admin" else member
        headers["X-Auth-Token"] = session.client.headers["X-Auth-Token"]
    return headers


def _assert_openstack_error(response: httpx.Response, status: int, words: str = "") -> None:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    (key,) = body
    assert body[key]["code"] == status
    assert words in body[key]["message"], body[key]["message"]


@pytest.mark.parametrize("klass", list(BODY_CLASSES))
@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_a_hostile_body_gets_a_4xx_and_appends_nothing(
    route: Route,
    klass: str,
    stack: Stack,
    admin: Session,
    member_session: Session,
    image_id: str,
) -> None:
    make, extra, status, words = BODY_CLASSES[klass]
    names = _names(stack, member_session, image_id)
    content = make(route.valid(names))
    headers = {**_headers(route, admin, member_session), **extra}
    before = last_notification_id(stack)

    started = time.monotonic()
    response = httpx.request(
        route.method,
        stack.url + route.path.format(**names),
        content=content,
        headers=headers,
        timeout=30,
    )

    _assert_openstack_error(response, status, words)
    assert time.monotonic() - started < 5, "refusing took too long"
    assert last_notification_id(stack) == before


@pytest.mark.parametrize(
    "version",
    ["compute ².1", "compute 2.¹", "compute 2." + "9" * 5000, "compute 2,1", "compute two"],
)
@pytest.mark.parametrize("route", [r for r in ROUTES if r.path.startswith(COMPUTE)])
def test_a_malformed_microversion_is_a_bad_request(
    route: Route,
    version: str,
    stack: Stack,
    admin: Session,
    member_session: Session,
    image_id: str,
) -> None:
    names = _names(stack, member_session, image_id)
    headers = {**_headers(route, admin, member_session), **JSON}
    headers["OpenStack-API-Version"] = version
    before = last_notification_id(stack)

    response = httpx.request(
        route.method,
        stack.url + route.path.format(**names),
        content=json.dumps(route.valid(names)).encode(),
        headers={k: v.encode() for k, v in headers.items()},  # non-ASCII bytes as sent
        timeout=30,
    )

    _assert_openstack_error(response, 400, "invalid format")
    assert last_notification_id(stack) == before


def _future_token(stack: Stack, member: Session) -> str:
    """A correctly signed token that claims to be issued an hour from now."""
    codec = TokenCodec(stack.settings().token_key())
    token, _ = codec.issue(
        member.user_id, "m", member.project_id, "p", ("member",), now=time.time() + 3600
    )
    return token


@pytest.mark.parametrize("token_kind", ["non-ascii-signature", "non-ascii-payload", "future"])
@pytest.mark.parametrize("route", [r for r in ROUTES if r.who != "anonymous"])
def test_a_malformed_or_untimely_token_is_unauthorized(
    route: Route,
    token_kind: str,
    stack: Stack,
    admin: Session,
    member_session: Session,
    image_id: str,
) -> None:
    names = _names(stack, member_session, image_id)
    real = member_session.client.headers["X-Auth-Token"].encode()
    token = {
        "non-ascii-signature": real + b"\xe9\xff",
        "non-ascii-payload": b"\xfc" + real,
        "future": _future_token(stack, member_session).encode(),
    }[token_kind]
    headers: dict[str, str | bytes] = {**_headers(route, admin, member_session), **JSON}
    headers["X-Auth-Token"] = token
    before = last_notification_id(stack)

    response = httpx.request(
        route.method,
        stack.url + route.path.format(**names),
        content=json.dumps(route.valid(names)).encode(),
        headers=headers,
        timeout=30,
    )

    _assert_openstack_error(response, 401)
    assert last_notification_id(stack) == before


def test_a_megabyte_query_string_gets_the_servers_own_400(stack: Stack) -> None:
    """Over 64 KiB of request line, uvicorn answers before the app (README)."""
    port = int(stack.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET /compute/v2.1/servers?name=" + b"x" * (1 << 20) + b" HTTP/1.1\r\n")
        conn.sendall(b"Host: 127.0.0.1\r\n\r\n")
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]


def test_an_oversized_chunked_body_is_refused_without_reading_it_all(
    stack: Stack, member_session: Session
) -> None:
    """No Content-Length to go by: the limit holds while the body streams in."""
    sent = [0]

    def chunks() -> Any:
        for _ in range(64):  # 64 MiB if the server read it all
            sent[0] += 1
            yield b"x" * (1 << 20)

    before = last_notification_id(stack)
    headers = {**_headers(ROUTES[-1], member_session, member_session), **JSON}
    try:
        response = httpx.post(
            f"{stack.url}/image/v2/images", content=chunks(), headers=headers, timeout=30
        )
    except httpx.HTTPError:
        pytest.fail("the server dropped the connection instead of answering 413")
    _assert_openstack_error(response, 413, "larger than")
    assert sent[0] < 64
    assert last_notification_id(stack) == before
