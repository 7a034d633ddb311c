"""The SecurityGroup aggregate: a project's named set of rules, and the
ports it filters (with their addresses, which a rule naming this group as
its remote group lets through).

What the hosts' network workers act on (issue 21): ``RuleAdded`` and
``RuleRemoved`` (the filters of the group's member ports, and of the ports
of groups that name it as remote), ``MembersChanged`` (remote-group
expansions), ``Deleted``. A project's ``default`` group is made on first
use with Neutron's default rules: all egress, ingress from its own members."""

from __future__ import annotations

from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from domain.addressing import NeutronBadRequest, NeutronConflict, parse_address, parse_prefix
from domain.errors import InvalidInput, NotFound
from domain.network_values import PROTOCOL_NUMBERS, CopiedCheaply, SecurityGroupRule
from domain.values import Actor, natural_id

DEFAULT_NAME = "default"
DIRECTIONS = ("ingress", "egress")
ETHERTYPES = {"ipv4": "IPv4", "ipv6": "IPv6"}
PORT_PROTOCOLS = ("tcp", "udp", "dccp", "sctp", "udplite", "6", "17", "33", "132", "136")
ICMP_PROTOCOLS = ("icmp", "icmpv6", "ipv6-icmp", "1", "58")
MAX_RULES_PER_GROUP = 1000


def default_group_id(project_id: str) -> UUID:
    """The id of a project's default group: two first uses racing make one."""
    return natural_id("security-group-default", project_id)


class SecurityGroup(CopiedCheaply, Aggregate):
    class Created(Aggregate.Created):
        project_id: str
        name: str
        description: str
        is_default: bool
        rules: list[SecurityGroupRule]
        actor: Actor

    @staticmethod
    def create_id(project_id: str, is_default: bool, **_: object) -> UUID:
        """A project's default group has an id derived from the project."""
        return default_group_id(project_id) if is_default else uuid4()

    @event(Created)
    def __init__(
        self,
        project_id: str,
        name: str,
        description: str,
        is_default: bool,
        rules: list[SecurityGroupRule],
        actor: Actor,
    ) -> None:
        self.project_id, self.name, self.description = project_id, name, description
        self.rules = list(rules)
        self.members: dict[str, list[str]] = {}  # port id -> its addresses
        self.deleted = False

    @property
    def is_default(self) -> bool:
        return self.id == default_group_id(self.project_id)

    def visible_to(self, actor: Actor) -> bool:
        return not self.deleted and (actor.is_admin or self.project_id == actor.project_id)

    def require_live(self) -> None:
        if self.deleted:
            raise NotFound(f"Security group {self.id} does not exist")

    def update(self, name: str | None, description: str | None, actor: Actor) -> None:
        self.require_live()
        new_name = self.name if name is None else name
        if self.is_default and new_name != DEFAULT_NAME:
            raise NeutronConflict(
                "Updating default security group not allowed.", "SecurityGroupCannotUpdateDefault"
            )
        if not self.is_default and new_name == DEFAULT_NAME:
            raise NeutronConflict(
                "Default security group already exists.", "SecurityGroupDefaultAlreadyExists"
            )
        new_description = self.description if description is None else description
        if (new_name, new_description) != (self.name, self.description):
            self._updated(new_name, new_description, actor)

    class Updated(Aggregate.Event):
        name: str
        description: str
        actor: Actor

    @event(Updated)
    def _updated(self, name: str, description: str, actor: Actor) -> None:
        self.name, self.description = name, description

    # Rules ---------------------------------------------------------------

    def rule(self, rule_id: str) -> SecurityGroupRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise NotFound(f"Security group rule {rule_id} does not exist")

    def add_rule(self, rule: SecurityGroupRule, actor: Actor) -> None:
        """A checked rule (``checked_rule``); an equal one is 409."""
        self.require_live()
        for existing in self.rules:
            if existing.same_match(rule):
                raise NeutronConflict(
                    f"Security group rule already exists. Rule id is {existing.id}.",
                    "SecurityGroupRuleExists",
                )
        if len(self.rules) >= MAX_RULES_PER_GROUP:
            raise NeutronBadRequest(f"A security group holds at most {MAX_RULES_PER_GROUP} rules")
        self._rule_added(rule, actor)

    class RuleAdded(Aggregate.Event):
        rule: SecurityGroupRule
        actor: Actor

    @event(RuleAdded)
    def _rule_added(self, rule: SecurityGroupRule, actor: Actor) -> None:
        self.rules.append(rule)

    def remove_rule(self, rule_id: str, actor: Actor) -> None:
        self.require_live()
        self.rule(rule_id)
        self._rule_removed(rule_id, actor)

    class RuleRemoved(Aggregate.Event):
        rule_id: str
        actor: Actor

    @event(RuleRemoved)
    def _rule_removed(self, rule_id: str, actor: Actor) -> None:
        self.rules = [r for r in self.rules if r.id != rule_id]

    # Members -------------------------------------------------------------

    def change_members(self, joined: dict[str, list[str]], left: list[str], actor: Actor) -> None:
        """Ports that joined (or whose addresses changed) and ports that left;
        one event for a batch."""
        self.require_live()
        joined = {p: a for p, a in joined.items() if self.members.get(p) != a}
        left = [p for p in left if p in self.members and p not in joined]
        if joined or left:
            self._members_changed(joined, left, actor)

    class MembersChanged(Aggregate.Event):
        joined: dict[str, list[str]]
        left: list[str]
        actor: Actor

    @event(MembersChanged)
    def _members_changed(self, joined: dict[str, list[str]], left: list[str], actor: Actor) -> None:
        self.members.update(joined)
        for port_id in left:
            del self.members[port_id]

    def delete(self, actor: Actor) -> None:
        """Refused (409 SecurityGroupInUse) while ports use it; a project's
        default group only by an admin (as Neutron)."""
        self.require_live()
        if self.members:
            raise NeutronConflict(f"Security Group {self.id} in use.", "SecurityGroupInUse")
        if self.is_default and not actor.is_admin:
            raise NeutronConflict(
                "Removing default security group not allowed.", "SecurityGroupCannotRemoveDefault"
            )
        self._deleted(actor)

    class Deleted(Aggregate.Event):
        actor: Actor

    @event(Deleted)
    def _deleted(self, actor: Actor) -> None:
        self.deleted = True


def default_rules(group_id: str, rule_ids: list[str]) -> list[SecurityGroupRule]:
    """Neutron's rules of a default group: all egress; ingress from members."""
    egress = [
        SecurityGroupRule(rule_ids[n], "egress", ethertype, "", None, None, "", "")
        for n, ethertype in enumerate(("IPv4", "IPv6"))
    ]
    ingress = [
        SecurityGroupRule(rule_ids[2 + n], "ingress", ethertype, "", None, None, "", group_id)
        for n, ethertype in enumerate(("IPv4", "IPv6"))
    ]
    return egress + ingress


def checked_rule(
    rule_id: str,
    direction: object,
    ethertype: object,
    protocol: object,
    port_range_min: object,
    port_range_max: object,
    remote_ip_prefix: object,
    remote_group_id: str,
    description: str,
) -> SecurityGroupRule:
    """A rule as Neutron validates one (same messages, so clients match them)."""
    if direction not in DIRECTIONS:
        raise NeutronBadRequest(
            f"Invalid input for direction. Reason: '{direction!s:.20}' is not in"
            " ['ingress', 'egress'].",
            "HTTPBadRequest",
        )
    kind = ETHERTYPES.get(str(ethertype or "IPv4").lower())
    if kind is None:
        raise NeutronBadRequest(
            f"Security group rule for ethertype '{ethertype!s:.20}' not supported. Allowed"
            " values are ['IPv4', 'IPv6'].",
            "SecurityGroupRuleInvalidEtherType",
        )
    proto = _protocol(protocol)
    low, high = _port(port_range_min), _port(port_range_max)
    _check_ports(proto, low, high)
    prefix = _prefix(remote_ip_prefix, kind)
    if prefix and remote_group_id:
        raise NeutronBadRequest(
            "Only remote_ip_prefix or remote_group_id may be provided.",
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        )
    return SecurityGroupRule(
        rule_id, str(direction), kind, proto, low, high, prefix, remote_group_id, description
    )


def _protocol(value: object) -> str:
    if value is None or value in ("", "any"):
        return ""
    text = str(value).lower() if not isinstance(value, bool) else ""
    if text in PROTOCOL_NUMBERS or (text.isdigit() and 0 <= int(text) <= 255 and len(text) < 4):
        return text
    raise NeutronBadRequest(
        f"Security group rule protocol {value!s:.20} not supported. Only protocol values"
        f" {sorted(PROTOCOL_NUMBERS)} and integer representations [0 to 255] are supported.",
        "SecurityGroupRuleInvalidProtocol",
    )


def _port(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise NeutronBadRequest(f"Invalid value for port {value!s:.20}", "InvalidInput")
    try:
        port = int(value)
    except ValueError:
        raise NeutronBadRequest(f"Invalid value for port {value!s:.20}", "InvalidInput") from None
    if not 0 <= port <= 65535:
        raise NeutronBadRequest(f"Invalid value for port {port}", "InvalidInput")
    return port


def _check_ports(protocol: str, low: int | None, high: int | None) -> None:
    if protocol in PORT_PROTOCOLS:
        if (low is None) != (high is None) or (low is not None and high is not None and low > high):
            raise NeutronBadRequest(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                "SecurityGroupInvalidPortRange",
            )
        if low == 0 or high == 0:
            raise NeutronBadRequest("Invalid value for port 0", "SecurityGroupInvalidPortValue")
    elif protocol in ICMP_PROTOCOLS:
        for field, attr, value in (
            ("type", "port_range_min", low),
            ("code", "port_range_max", high),
        ):
            if value is not None and not 0 <= value <= 255:
                raise NeutronBadRequest(
                    f"Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to 255.",
                    "SecurityGroupInvalidIcmpValue",
                )
        if low is None and high is not None:
            raise NeutronBadRequest(
                f"ICMP code (port-range-max) {high} is provided but ICMP type (port-range-min)"
                " is missing.",
                "SecurityGroupMissingIcmpType",
            )
    elif low is not None or high is not None:
        raise NeutronBadRequest(
            f"Invalid protocol {protocol or 'any'} for port range, only supported for TCP,"
            " UDP, UDPLITE, SCTP, DCCP and ICMP",
            "SecurityGroupInvalidProtocolForPortRange",
        )


def _prefix(value: object, ethertype: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise NeutronBadRequest(f"Invalid CIDR {value!s:.40} given as IP prefix.", "InvalidCIDR")
    if "/" not in value:
        try:
            address = parse_address(value, "remote_ip_prefix")
        except InvalidInput:
            raise NeutronBadRequest(
                f"Invalid CIDR {value:.40} given as IP prefix.", "InvalidCIDR"
            ) from None
        value = f"{address}/{address.max_prefixlen}"
    try:
        network = parse_prefix(value)
    except InvalidInput:
        raise NeutronBadRequest(
            f"Invalid CIDR {value:.40} given as IP prefix.", "InvalidCIDR"
        ) from None
    if f"IPv{network.version}" != ethertype:
        raise NeutronBadRequest(
            f"Conflicting value ethertype {ethertype} for CIDR {network}",
            "SecurityGroupRuleParameterConflict",
        )
    return str(network)
