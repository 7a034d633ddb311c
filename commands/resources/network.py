"""Networking's command side: the value objects its events carry (fixed
IPs, allocation pools, routes, segments, security rules)."""

from __future__ import annotations

from commands.declarations import CommandResource
from commands.network_transcodings import NETWORK_TRANSCODINGS

RESOURCE = CommandResource("network", transcodings=tuple(NETWORK_TRANSCODINGS))
