"""Security groups and their rules: a project's default group made on first
use, groups and rules made, changed and deleted, with their quota (one
reservation per group, holding the group and its rules)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import uuid4

from commands.network_batch import NetworkBatch, NeutronNotFound, parse_id
from domain.addressing import NeutronConflict
from domain.network import require_name
from domain.security_group import (
    DEFAULT_NAME,
    SecurityGroup,
    checked_rule,
    default_group_id,
    default_rules,
)
from domain.values import Actor


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the API received it: values checked by ``checked_rule``."""

    security_group_id: str
    direction: object = None
    ethertype: object = "IPv4"
    protocol: object = None
    port_range_min: object = None
    port_range_max: object = None
    remote_ip_prefix: object = None
    remote_group_id: object = None
    description: str = ""


def default_group(batch: NetworkBatch, project_id: str, actor: Actor) -> SecurityGroup:
    """The project's default group, made now (in this batch) if it is not yet."""
    group_id = default_group_id(project_id)
    group = batch.find(SecurityGroup, group_id)
    if group is not None and not group.deleted:
        return group
    if group is not None:  # an admin deleted it: Neutron makes none again
        raise NeutronNotFound(SecurityGroup, group_id)
    rules = default_rules(str(group_id), [str(uuid4()) for _ in range(4)])
    made = SecurityGroup(
        project_id=project_id,
        name=DEFAULT_NAME,
        description="Default security group",
        is_default=True,
        rules=rules,
        actor=actor,
    )
    batch.add(made)
    return made


def group_for_port(
    batch: NetworkBatch, group_id: str, project_id: str, actor: Actor
) -> SecurityGroup:
    """A group a port of ``project_id`` may be in: its own project's ("" for
    the default one); any other is 404, as if it did not exist."""
    if not group_id:
        return default_group(batch, project_id, actor)
    group = batch.get(SecurityGroup, group_id)
    if group.project_id != project_id:
        raise NeutronNotFound(SecurityGroup, group_id)
    return group


def create_group_in(
    batch: NetworkBatch, name: str, description: str, project_id: str, actor: Actor
) -> SecurityGroup:
    require_name(name, "name")
    require_name(description, "description")
    if name == DEFAULT_NAME:
        raise NeutronConflict(
            "Default security group already exists.", "SecurityGroupDefaultAlreadyExists"
        )
    default_group(batch, project_id, actor)  # Neutron makes it with the project's first
    egress = [rule for rule in default_rules("", ["", "", "", ""]) if rule.direction == "egress"]
    amounts = {"security_group": 1, "security_group_rule": len(egress)}
    quota = batch.quota(project_id)
    quota.check(amounts)
    group = SecurityGroup(
        project_id=project_id,
        name=name,
        description=description,
        is_default=False,
        rules=[replace(rule, id=str(uuid4())) for rule in egress],
        actor=actor,
    )
    batch.add(group)
    quota.reserve(str(group.id), amounts, actor)
    return group


def visible_group(batch: NetworkBatch, group_id: str, actor: Actor) -> SecurityGroup:
    return batch.visible(SecurityGroup, group_id, actor)


def update_group_in(
    batch: NetworkBatch, group_id: str, name: str | None, description: str | None, actor: Actor
) -> SecurityGroup:
    group = visible_group(batch, group_id, actor)
    if name is not None:
        require_name(name, "name")
    if description is not None:
        require_name(description, "description")
    group.update(name, description, actor)
    return group


def delete_group_in(batch: NetworkBatch, group_id: str, actor: Actor) -> SecurityGroup:
    group = visible_group(batch, group_id, actor)
    group.delete(actor)
    batch.quota(group.project_id).release(str(group.id), actor)
    return group


def add_rule_in(batch: NetworkBatch, spec: RuleSpec, actor: Actor) -> tuple[SecurityGroup, str]:
    """The rule, checked as Neutron does; its id."""
    group = visible_group(batch, spec.security_group_id, actor)
    remote = ""
    if spec.remote_group_id not in (None, ""):
        remote_group = batch.get(SecurityGroup, spec.remote_group_id)
        if remote_group.project_id != group.project_id and not actor.is_admin:
            raise NeutronNotFound(SecurityGroup, parse_id(SecurityGroup, spec.remote_group_id))
        remote = str(remote_group.id)
    require_name(spec.description, "description")
    rule = checked_rule(
        str(uuid4()),
        spec.direction,
        spec.ethertype,
        spec.protocol,
        spec.port_range_min,
        spec.port_range_max,
        spec.remote_ip_prefix,
        remote,
        spec.description,
    )
    quota = batch.quota(group.project_id)
    held = quota.allocations.get(str(group.id))
    grown = None
    if held is not None:
        grown = {**held, "security_group_rule": held.get("security_group_rule", 0) + 1}
        quota.check({"security_group_rule": 1})
    group.add_rule(rule, actor)
    if grown is not None:
        quota.adjust(str(group.id), grown, actor)
    return group, rule.id


def remove_rule_in(batch: NetworkBatch, group_id: str, rule_id: str, actor: Actor) -> SecurityGroup:
    group = visible_group(batch, group_id, actor)
    group.remove_rule(rule_id, actor)
    quota = batch.quota(group.project_id)
    held = quota.allocations.get(str(group.id))
    if held is not None and held.get("security_group_rule", 0) > 0:
        shrunk = {**held, "security_group_rule": held["security_group_rule"] - 1}
        quota.adjust(str(group.id), shrunk, actor)
    return group
