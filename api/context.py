"""Per-request helpers: the caller's identity, bodies, and read-your-writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from api.admission import Admission
from api.batching import AsyncBatcher
from api.errors import BadRequest
from api.heartbeats import Heartbeats
from api.host_calls import HostCalls
from api.limits import parse_json
from api.metrics import ApiMetrics
from api.neutron_state import NetworkApiState
from api.policy import Policy
from api.progress import ProjectionProgress
from api.request_id import SCOPE_KEY, new_request_id
from api.revocations import RevocationList
from commands.receipt import Receipt
from commands.rejections import PostgresRejections
from commands.server_actions import ActionRequest
from commands.services import BootRequest, Services
from commands.tokens import TokenClaims, TokenCodec
from domain.errors import Unauthorized
from domain.property_protections import PropertyProtections
from domain.values import Actor
from projections.reader import AsyncReader
from projections.registry import positions_to_wait_for

M = TypeVar("M", bound=BaseModel)

READ_YOUR_WRITES_TIMEOUT = 10.0

# Names the read models can store and users can read; anything else would be
# refused by the domain anyway, this gives the error in pydantic's words first.
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"  # names are printable, as in Nova


@dataclass
class ApiState:
    """Everything the routes use; built by the composition root in api/app.py."""

    services: Services
    tokens: TokenCodec
    revocations: RevocationList  # in memory, kept current by the progress listener
    policy: Policy
    progress: ProjectionProgress
    # Every read-model query, on an asyncio pool: reads hold no thread.
    reads: AsyncReader
    heartbeats: Heartbeats  # which workers are alive (Redis), for os-services
    host_calls: HostCalls  # questions to a compute host (a console's output)
    admission: Admission
    # A project's boots in one save at a time, waiting without a thread;
    # likewise its stops, starts and deletes.
    boots: AsyncBatcher[BootRequest, Receipt]
    actions: AsyncBatcher[ActionRequest, Receipt]
    rejections: PostgresRejections  # refused requests, kept for audit (api/audit.py)
    metrics: ApiMetrics  # GET /metrics (api/metrics.py)
    network: NetworkApiState  # the Networking API's commands and batchers
    # Glance's property protections, if the operator set a file.
    image_protections: PropertyProtections | None = None


def state(request: Request) -> ApiState:
    api_state: ApiState = request.app.state.api
    return api_state


def request_id(request: Request) -> str:
    """This request's id (api/request_id.py), as its events will carry it."""
    rid: str = request.scope.setdefault(SCOPE_KEY, new_request_id())
    return rid


def authenticate(request: Request) -> Actor:
    """Validate the token (no database round trip); no policy check yet.
    The actor says where its roles were granted, and whether that makes it
    the cloud's admin (api/policy.py): every ``actor.is_admin`` reads that."""
    claims = token_claims(request, request.headers.get("x-auth-token", ""))
    # A system token's project is only where its roles come from.
    project_id = "" if claims.system_scope else claims.project_id
    actor = Actor(
        claims.user_id,
        project_id,
        claims.roles,
        request_id(request),
        project_domain_id=claims.project_domain_id if project_id else "",
        domain_id=claims.domain_id,
        system_scope=claims.system_scope,
        is_admin_project=claims.is_admin_project,
        cloud_admin=False,
    )
    return replace(actor, cloud_admin=state(request).policy.is_cloud_admin(actor))


def token_claims(request: Request, token: str) -> TokenClaims:
    """A token's claims if it is well signed, unexpired and not revoked."""
    if not token:
        raise Unauthorized("The request you have made requires authentication.")
    claims = state(request).tokens.verify(token)
    if state(request).revocations.revoked(claims):
        raise Unauthorized("The token has been revoked.")
    return claims


def authorize(request: Request, rule: str) -> Actor:
    """Validate the token (no database round trip) and enforce the rule."""
    actor = authenticate(request)
    state(request).policy.enforce(actor, rule)
    return actor


E = TypeVar("E", bound=Callable[..., Any])


def accepts(*models: type[BaseModel]) -> Callable[[E], E]:
    """Declare the bodies a route reads: /openapi.json is built from these,
    and parse_body refuses a model its route did not declare, so the two
    cannot drift apart."""

    def declare(endpoint: E) -> E:
        endpoint.body_models = models  # type: ignore[attr-defined]
        return endpoint

    return declare


async def parse_body(request: Request, model: type[M]) -> M:
    """The JSON body validated against a pydantic model; 400 if it is not
    (415 if it is not JSON at all)."""
    endpoint = request.scope.get("endpoint")
    if endpoint is not None and model not in getattr(endpoint, "body_models", ()):
        raise RuntimeError(f"{endpoint.__name__} reads a {model.__name__} it does not declare")
    data: Any = parse_json(await request.body(), request.headers.get("content-type"))
    if not isinstance(data, dict):
        raise BadRequest("Malformed request body: expected a JSON object")
    return model.model_validate(data)


async def read_your_writes(request: Request, receipt: Receipt) -> None:
    """Answer only once the read models the write touched show it."""
    targets = positions_to_wait_for(receipt.events)
    await state(request).progress.wait(targets, READ_YOUR_WRITES_TIMEOUT)


def base_url(request: Request) -> str:
    """This server's URL as the client named it; worked out once per request
    (a listing renders three links per server)."""
    cached: str | None = request.scope.get("cloudledger.base_url")
    if cached is None:
        cached = request.scope["cloudledger.base_url"] = str(request.base_url).rstrip("/")
    return cached
