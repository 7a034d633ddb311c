"""`cloudledger bench boot --networks`: what each boot asks for."""

from __future__ import annotations

import httpx
import pytest

from ops.bench import Bench
from ops.cli import parser


def test_a_bench_boots_with_no_network_unless_told_to_take_a_port_each() -> None:
    plain = parser().parse_args(["bench", "boot"])
    ported = parser().parse_args(["bench", "boot", "--networks", "auto"])
    client = httpx.AsyncClient()
    assert Bench(client, "img", "1", plain.networks).boot_spec(3)["server"] == {
        "name": "bench-3",
        "flavorRef": "1",
        "imageRef": "img",
        "networks": "none",
    }
    assert Bench(client, "img", "1", ported.networks).boot_spec(3)["server"]["networks"] == "auto"


def test_a_bench_refuses_a_networks_value_it_cannot_send() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["bench", "boot", "--networks", "private"])
