"""What a server was asked for at boot, as older ledgers stored it: the
upcasters of ``Instance.Requested`` and the fields its snapshots may lack."""

from __future__ import annotations

from typing import Any

from domain.values import network_requests


def requested_v1_v2(state: dict[str, Any]) -> None:
    """Version 1 dropped key_name, metadata and description."""
    state.update(key_name="", key_data="", metadata={}, description="", server_group="")


def requested_v2_v3(state: dict[str, Any]) -> None:
    """Version 2 had no availability zone."""
    state.update(availability_zone="", forced_host="")


def requested_v3_v4(state: dict[str, Any]) -> None:
    """Version 3 kept the API's "none" or "auto" as a string."""
    state["networks"] = network_requests(state["networks"])


class AskedAtBoot:
    """The Instance's placement asks; snapshots from before zones could be
    asked for lack them."""

    @property
    def zone_asked(self) -> str:
        """The availability zone asked for at boot ("" for any)."""
        return str(self.__dict__.get("availability_zone", ""))

    @property
    def host_forced(self) -> str:
        """An admin's AZ:HOST choice ("" for none)."""
        return str(self.__dict__.get("forced_host", ""))
