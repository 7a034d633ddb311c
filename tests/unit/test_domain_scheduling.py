"""Unit tests for host selection: filters, weighers and disk sizing."""

from dataclasses import replace

import pytest

from domain.errors import InvalidInput
from domain.scheduling import (
    DEFAULT_FILTERS,
    HostCandidate,
    RequestSpec,
    SchedulerConfig,
    disk_needed,
    rank_hosts,
)
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


# The configurable filter list and weighers (SchedulerConfig) ---------------


def _spec(**kwargs: object) -> RequestSpec:
    return RequestSpec(FLAVOR, **kwargs)  # type: ignore[arg-type]


def test_the_zone_filter_keeps_only_the_asked_zone() -> None:
    hosts = [replace(_host("a"), zone="az1"), replace(_host("b", ram=9999), zone="nova")]
    assert SchedulerConfig().rank(hosts, _spec(zone="az1")) == ["a"]
    assert SchedulerConfig().rank(hosts, _spec()) == ["b", "a"]


def test_compute_filter_drops_hosts_whose_worker_is_down() -> None:
    hosts = [replace(_host("a", ram=9999), up=False), _host("b")]
    assert SchedulerConfig().rank(hosts, _spec()) == ["b"]


@pytest.mark.parametrize(
    ("properties", "passes"),
    [
        ({}, True),
        ({"hw_architecture": "x86_64"}, True),
        ({"hw_architecture": "amd64"}, True),  # another name for the same CPU
        ({"hw_architecture": "aarch64"}, False),
        ({"hypervisor_type": "qemu"}, True),
        ({"img_hv_type": "QEMU"}, True),
        ({"hypervisor_type": "xen"}, False),
    ],
)
def test_image_properties_must_match_the_host(properties: dict[str, str], passes: bool) -> None:
    ranked = SchedulerConfig().rank([_host("a")], _spec(image_properties=properties))
    assert ranked == (["a"] if passes else [])


def test_a_filter_left_out_of_the_list_does_not_run() -> None:
    hosts = [replace(_host("a"), zone="az1"), _host("b", enabled=False)]
    config = SchedulerConfig(filters=("RamFilter", "CoreFilter", "DiskFilter"))
    assert config.rank(hosts, _spec(zone="elsewhere")) == ["a", "b"]


def test_a_negative_ram_multiplier_stacks_instead_of_spreading() -> None:
    hosts = [_host("a", ram=2048), _host("b", ram=8192)]
    assert SchedulerConfig().rank(hosts, _spec()) == ["b", "a"]
    assert SchedulerConfig(ram_weight_multiplier=-1.0).rank(hosts, _spec()) == ["a", "b"]


def test_group_filters_apply_their_own_policy_and_soft_ones_weigh_first() -> None:
    hosts = [_host("a", ram=8192), _host("b", ram=2048)]
    only_b = _spec(group_policy="anti-affinity", group_allows=lambda h: h == "b")
    assert SchedulerConfig().rank(hosts, only_b) == ["b"]
    soft = _spec(group_policy="soft-affinity", group_prefers=lambda h: h == "b")
    assert SchedulerConfig().rank(hosts, soft) == ["b", "a"]


def test_settings_name_known_filters_and_a_numeric_multiplier() -> None:
    config = SchedulerConfig.from_settings("ComputeFilter, RamFilter", "-2")
    assert (config.filters, config.ram_weight_multiplier) == (("ComputeFilter", "RamFilter"), -2)
    assert SchedulerConfig.from_settings("", "1.0").filters == DEFAULT_FILTERS
    with pytest.raises(InvalidInput, match="NoSuchFilter"):
        SchedulerConfig.from_settings("RamFilter,NoSuchFilter", "1")
    with pytest.raises(InvalidInput, match="number"):
        SchedulerConfig.from_settings("", "lots")
