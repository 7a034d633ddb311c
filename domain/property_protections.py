"""Glance's property protections: which roles (or policy rules) may create,
read, update and delete which additional image properties.

The file is Glance's INI format: one section per property name or regular
expression, tried in file order (the first that matches decides); keys
``create``, ``read``, ``update`` and ``delete``, each a comma-separated list
of roles (or, with the ``policies`` format, of policy rule names), where
``@`` allows everyone and ``!`` no one. A property no section matches, or
an operation a section does not list, is refused, as in Glance."""

from __future__ import annotations

import configparser
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from domain.values import Actor

OPERATIONS = ("create", "read", "update", "delete")
FORMATS = ("roles", "policies")


class ProtectionFileError(Exception):
    """The property protection file cannot be used; the message says why."""


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    allowed: dict[str, tuple[str, ...]]


@dataclass
class PropertyProtections:
    """Parsed rules; ``check_rule`` answers for a named policy rule (the
    ``policies`` format) and is given by the composition root."""

    rules: list[_Rule]
    rule_format: str = "roles"
    check_rule: Callable[[Actor, str], bool] | None = field(default=None, repr=False)

    @classmethod
    def parse(
        cls, text: str, rule_format: str = "roles", source: str = "<file>"
    ) -> PropertyProtections:
        if rule_format not in FORMATS:
            raise ProtectionFileError(
                f"property_protection_rule_format must be one of {', '.join(FORMATS)}, "
                f"not {rule_format!r}"
            )
        parser = configparser.ConfigParser(interpolation=None, default_section="\x00none")
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(text, source)
        except configparser.Error as exc:
            raise ProtectionFileError(f"{source}: cannot parse it: {exc}") from None
        rules = []
        for section in parser.sections():
            try:
                pattern = re.compile(section)
            except re.error as exc:
                raise ProtectionFileError(
                    f"{source}: section [{section}] is not a regular expression: {exc}"
                ) from None
            allowed: dict[str, tuple[str, ...]] = {}
            for key, value in parser.items(section):
                if key not in OPERATIONS:
                    raise ProtectionFileError(
                        f"{source}: section [{section}] has {key!r}; "
                        f"expected {', '.join(OPERATIONS)}"
                    )
                allowed[key] = tuple(v.strip() for v in value.split(",") if v.strip())
            rules.append(_Rule(pattern, allowed))
        return cls(rules, rule_format)

    def rule_names(self) -> set[str]:
        """The policy rules a ``policies`` file names (checked at start-up)."""
        return {
            name
            for rule in self.rules
            for names in rule.allowed.values()
            for name in names
            if name not in ("@", "!")
        }

    def allows(self, actor: Actor, operation: str, name: str) -> bool:
        for rule in self.rules:
            if rule.pattern.search(name):
                break
        else:
            return False  # no section names it: no one may (Glance)
        permitted = rule.allowed.get(operation, ())
        if "!" in permitted:
            return False
        if "@" in permitted:
            return True
        if self.rule_format == "policies":
            check = self.check_rule
            return check is not None and any(check(actor, p) for p in permitted)
        return any(role in permitted for role in actor.roles)
