"""Unit tests for host selection: filters, weighers and disk sizing."""

from domain.scheduling import HostCandidate, disk_needed, rank_hosts
from domain.values import FlavorSnapshot

FLAVOR = FlavorSnapshot("2", "m1.small", 2, 2048, 20, 0, 0)


def _host(
    name: str,
    ram: float = 8192,
    vcpus: float = 16,
    disk: float = 100,
    enabled: bool = True,
) -> HostCandidate:
    return HostCandidate(name, enabled, vcpus, ram, disk)


def _flavor(
    disk_gb: int = 20,
    ephemeral_gb: int = 0,
    swap_mb: int = 0,
) -> FlavorSnapshot:
    return FlavorSnapshot("x", "x", 1, 512, disk_gb, ephemeral_gb, swap_mb)


def test_disk_needed_is_root_plus_ephemeral() -> None:
    assert disk_needed(_flavor(disk_gb=20, ephemeral_gb=5)) == 25


def test_disk_needed_rounds_swap_up_to_whole_gib() -> None:
    assert disk_needed(_flavor(disk_gb=0, swap_mb=1)) == 1
    assert disk_needed(_flavor(disk_gb=0, swap_mb=1024)) == 1
    assert disk_needed(_flavor(disk_gb=0, swap_mb=1025)) == 2


def test_disk_needed_without_swap_adds_nothing() -> None:
    assert disk_needed(_flavor(disk_gb=10)) == 10


def test_rank_hosts_drops_disabled_hosts() -> None:
    hosts = [_host("a", enabled=False), _host("b")]
    assert rank_hosts(hosts, FLAVOR) == ["b"]


def test_rank_hosts_drops_hosts_short_of_vcpus() -> None:
    hosts = [_host("a", vcpus=1), _host("b", vcpus=2)]
    assert rank_hosts(hosts, FLAVOR) == ["b"]


def test_rank_hosts_drops_hosts_short_of_ram() -> None:
    hosts = [_host("a", ram=2047), _host("b", ram=2048)]
    assert rank_hosts(hosts, FLAVOR) == ["b"]


def test_rank_hosts_drops_hosts_short_of_disk_including_swap() -> None:
    flavor = FlavorSnapshot("s", "s", 1, 512, 10, 0, 512)
    hosts = [_host("a", disk=10), _host("b", disk=11)]
    assert rank_hosts(hosts, flavor) == ["b"]


def test_rank_hosts_orders_by_most_free_ram_first() -> None:
    hosts = [_host("a", ram=4096), _host("b", ram=16384), _host("c", ram=8192)]
    assert rank_hosts(hosts, FLAVOR) == ["b", "c", "a"]


def test_rank_hosts_breaks_ties_by_name_whatever_the_input_order() -> None:
    hosts = [_host("c"), _host("a"), _host("b")]
    assert rank_hosts(hosts, FLAVOR) == ["a", "b", "c"]
    assert rank_hosts(list(reversed(hosts)), FLAVOR) == ["a", "b", "c"]


def test_rank_hosts_with_no_fitting_host_is_empty() -> None:
    assert rank_hosts([_host("a", ram=1), _host("b", enabled=False)], FLAVOR) == []
    assert rank_hosts([], FLAVOR) == []


def test_rank_hosts_accepts_fractional_free_capacity_from_ratios() -> None:
    hosts = [_host("a", vcpus=1.5), _host("b", vcpus=2.5)]
    assert rank_hosts(hosts, FLAVOR) == ["b"]
