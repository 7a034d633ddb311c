"""Contract tests every Hypervisor must pass: the fake, libvirt's test driver,
and libvirt's QEMU driver running real (TCG) machines."""

import os
import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import libvirt
import pytest

from ops.ports import free_port
from ops.tgtd import Tgtd, TgtdConfig, free_control_port
from workers.drivers.domain_interfaces import InterfaceSpec
from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.fake_hypervisor import FakeHypervisor
from workers.drivers.hypervisor import (
    DiskSpec,
    DomainInfo,
    DomainSpec,
    Hypervisor,
    LibvirtHypervisor,
)
from workers.drivers.iscsi import Portal, TargetAddress, target_iqn
from workers.drivers.netns import (
    add_tap,
    ensure_namespace,
    ipr,
    namespace_pids,
    remove_namespace,
)
from workers.drivers.netns_topology import stack_prefix
from workers.drivers.processes import end_processes
from workers.drivers.runner import SubprocessRunner
from workers.drivers.test_node import write_test_node
from workers.drivers.volume_attach import DetachTimeout
from workers.drivers.volume_connector import QsdConnector, VolumeDisk
from workers.drivers.volume_files import VolumeFiles
from workers.drivers.volume_xml import AttachedVolume, volume_alias

WEB_UUID = "3f0e1c2d-4b5a-4978-8e6f-0a1b2c3d4e5f"
WEB = DomainSpec("web", WEB_UUID, 2, 256, (DiskSpec("/srv/web/disk", "vda"),))
DB_DISKS = (DiskSpec("/srv/db/disk", "vda"), DiskSpec("/srv/db/disk.eph0", "vdb"))
DB = DomainSpec("db", "9a8b7c6d-5e4f-4321-8765-43210fedcba9", 2, 384, DB_DISKS)


def _running(spec: DomainSpec, running: bool = True) -> DomainInfo:
    return DomainInfo(spec.name, spec.uuid, running, spec.vcpus, spec.memory_mb)


@pytest.fixture
def libvirt_conn(tmp_path: Path) -> Iterator[libvirt.virConnect]:
    conn = libvirt.open(write_test_node(tmp_path / "node.xml", cpus=8, memory_mb=16384))
    yield conn
    conn.close()


# The QEMU half boots real (empty) machines: seconds per test, so marked slow,
# and run in CI all the same.
HYPERVISORS = ["fake", "libvirt", pytest.param("qemu", marks=pytest.mark.slow)]


@pytest.fixture(params=HYPERVISORS)
def hypervisor(request: pytest.FixtureRequest) -> Iterator[Hypervisor]:
    if request.param == "fake":
        yield FakeHypervisor()
    elif request.param == "libvirt":
        # Each open() of a node-file URI is a separate, empty host.
        yield LibvirtHypervisor(request.getfixturevalue("libvirt_conn"), "test")
    else:
        # One embedded QEMU driver per process, so emptied after each test. A
        # domain with no bootable disk just waits in its BIOS; no guest answers
        # a soft reboot (or a hot-unplug), so a short wait before giving up.
        sockets = request.getfixturevalue("short_dir")
        connector = QsdConnector(sockets / "conn", SubprocessRunner())
        qemu = LibvirtHypervisor(
            request.getfixturevalue("qemu_conn"), "qemu", 1.0, connector, detach_timeout_s=2.0
        )
        try:
            yield qemu
        finally:
            for domain in qemu.list_domains():
                qemu.ensure_absent(domain.name)
            for attachment in connector.connected():
                connector.ensure_disconnected(attachment)


def _with_disks(spec: DomainSpec, folder: Path) -> DomainSpec:
    """``spec`` on real (empty) disk files, which QEMU opens when it starts."""
    folder.mkdir()
    disks = []
    for disk in spec.disks:
        path = folder / Path(disk.path).name
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
        disks.append(replace(disk, path=str(path)))
    return replace(spec, disks=tuple(disks))


@pytest.fixture
def web(tmp_path: Path) -> DomainSpec:
    return _with_disks(WEB, tmp_path / "web")


@pytest.fixture
def db(tmp_path: Path) -> DomainSpec:
    return _with_disks(DB, tmp_path / "db")


def test_a_new_host_has_no_domains(hypervisor: Hypervisor) -> None:
    assert hypervisor.list_domains() == []


def test_get_of_an_unknown_name_is_none(hypervisor: Hypervisor) -> None:
    assert hypervisor.get("nope") is None


def test_ensure_running_defines_and_starts_a_missing_domain(
    hypervisor: Hypervisor, web: DomainSpec
) -> None:
    hypervisor.ensure_running(web)

    assert hypervisor.get("web") == _running(web)


def test_second_ensure_running_of_a_running_domain_is_a_no_op(
    hypervisor: Hypervisor, web: DomainSpec
) -> None:
    hypervisor.ensure_running(web)

    hypervisor.ensure_running(web)

    assert hypervisor.list_domains() == [_running(web)]


def test_ensure_running_starts_a_stopped_domain(hypervisor: Hypervisor, web: DomainSpec) -> None:
    hypervisor.ensure_stopped(web)

    hypervisor.ensure_running(web)

    assert hypervisor.get("web") == _running(web)


def test_ensure_stopped_defines_a_missing_domain_without_starting_it(
    hypervisor: Hypervisor, web: DomainSpec
) -> None:
    hypervisor.ensure_stopped(web)

    assert hypervisor.get("web") == _running(web, running=False)


def test_ensure_stopped_stops_a_running_domain(hypervisor: Hypervisor, web: DomainSpec) -> None:
    hypervisor.ensure_running(web)

    hypervisor.ensure_stopped(web)

    assert hypervisor.get("web") == _running(web, running=False)


def test_second_ensure_stopped_is_a_no_op(hypervisor: Hypervisor, web: DomainSpec) -> None:
    hypervisor.ensure_running(web)
    hypervisor.ensure_stopped(web)

    hypervisor.ensure_stopped(web)

    assert hypervisor.list_domains() == [_running(web, running=False)]


def test_ensure_absent_removes_a_running_domain(hypervisor: Hypervisor, web: DomainSpec) -> None:
    hypervisor.ensure_running(web)

    hypervisor.ensure_absent("web")

    assert hypervisor.get("web") is None
    assert hypervisor.list_domains() == []


def test_ensure_absent_removes_a_stopped_domain(hypervisor: Hypervisor, web: DomainSpec) -> None:
    hypervisor.ensure_stopped(web)

    hypervisor.ensure_absent("web")

    assert hypervisor.get("web") is None


def test_second_ensure_absent_is_a_no_op(hypervisor: Hypervisor, web: DomainSpec) -> None:
    hypervisor.ensure_running(web)
    hypervisor.ensure_absent("web")

    hypervisor.ensure_absent("web")

    assert hypervisor.list_domains() == []


def test_ensure_absent_of_an_unknown_name_is_fine(hypervisor: Hypervisor, web: DomainSpec) -> None:
    hypervisor.ensure_running(web)

    hypervisor.ensure_absent("never-defined")

    assert hypervisor.list_domains() == [_running(web)]


def test_a_removed_domain_can_be_defined_again(hypervisor: Hypervisor, web: DomainSpec) -> None:
    hypervisor.ensure_running(web)
    hypervisor.ensure_absent("web")

    hypervisor.ensure_running(web)

    assert hypervisor.get("web") == _running(web)


def test_list_domains_reports_each_domain_sorted_by_name(
    hypervisor: Hypervisor, web: DomainSpec, db: DomainSpec
) -> None:
    hypervisor.ensure_running(web)
    hypervisor.ensure_stopped(db)

    assert hypervisor.list_domains() == [_running(db, running=False), _running(web)]


def test_get_and_list_report_the_uuid_in_lower_case(
    hypervisor: Hypervisor, web: DomainSpec
) -> None:
    hypervisor.ensure_running(replace(web, uuid=web.uuid.upper()))

    assert hypervisor.get("web") == _running(web)


def test_an_existing_definition_is_not_replaced(hypervisor: Hypervisor, web: DomainSpec) -> None:
    hypervisor.ensure_running(web)

    hypervisor.ensure_stopped(replace(web, vcpus=6, memory_mb=2048))

    assert hypervisor.get("web") == _running(web, running=False)


def test_a_name_defined_with_another_uuid_is_a_permanent_error(
    hypervisor: Hypervisor, web: DomainSpec, db: DomainSpec
) -> None:
    hypervisor.ensure_running(web)

    with pytest.raises(PermanentDriverError):
        hypervisor.ensure_running(replace(web, uuid=db.uuid))

    assert hypervisor.list_domains() == [_running(web)]


def test_a_uuid_used_by_another_name_is_a_permanent_error(
    hypervisor: Hypervisor, web: DomainSpec, db: DomainSpec
) -> None:
    hypervisor.ensure_running(web)

    with pytest.raises(PermanentDriverError):
        hypervisor.ensure_stopped(replace(db, uuid=web.uuid))

    assert hypervisor.list_domains() == [_running(web)]


@pytest.mark.parametrize(
    "bad_spec",
    [
        replace(WEB, vcpus=0),
        replace(WEB, memory_mb=0),
        replace(WEB, name=""),
        replace(WEB, name="a/b"),
        replace(WEB, uuid="not-a-uuid"),
        replace(WEB, disks=(DiskSpec("/a", "vda"), DiskSpec("/b", "vda"))),
        replace(WEB, disks=(DiskSpec("/a", "vda", "vmdk-ish"),)),
    ],
    ids=["no-vcpu", "no-memory", "no-name", "slash", "uuid", "dup-target", "format"],
)
def test_an_invalid_spec_is_a_permanent_error_and_defines_nothing(
    hypervisor: Hypervisor, bad_spec: DomainSpec
) -> None:
    with pytest.raises(PermanentDriverError):
        hypervisor.ensure_running(bad_spec)

    assert hypervisor.list_domains() == []


# Behaviour specific to one implementation.


def test_fake_fail_next_raises_once_then_works() -> None:
    fake = FakeHypervisor()
    fake.fail_next(TransientDriverError("connection lost"))

    with pytest.raises(TransientDriverError, match="connection lost"):
        fake.ensure_running(WEB)

    assert fake.get("web") is None
    fake.ensure_running(WEB)
    assert fake.get("web") == _running(WEB)


def test_fake_remembers_the_spec_with_its_disks() -> None:
    fake = FakeHypervisor()

    fake.ensure_running(DB)

    assert fake.defined_spec("db") == DB


def test_test_node_host_has_the_requested_size_and_no_domains(tmp_path: Path) -> None:
    uri = write_test_node(tmp_path / "node.xml", cpus=6, memory_mb=12288)

    conn = libvirt.open(uri)
    _, memory_mb, cpus, *_ = conn.getInfo()
    domains = conn.listAllDomains(0)
    conn.close()

    assert uri == f"test://{tmp_path.resolve()}/node.xml"
    assert (memory_mb, cpus) == (12288, 6)
    assert domains == []


def test_test_node_uri_escapes_awkward_folder_names(tmp_path: Path) -> None:
    folder = tmp_path / "a b%c"
    folder.mkdir()

    uri = write_test_node(folder / "node.xml", cpus=2, memory_mb=512)

    assert libvirt.open(uri).getInfo()[2] == 2


def test_libvirt_defines_the_disks_of_the_spec(libvirt_conn: libvirt.virConnect) -> None:
    LibvirtHypervisor(libvirt_conn, "test").ensure_stopped(DB)

    xml = libvirt_conn.lookupByName("db").XMLDesc(0)

    assert "/srv/db/disk.eph0" in xml
    assert "dev='vdb'" in xml


def test_libvirt_ensure_running_resumes_a_paused_domain(libvirt_conn: libvirt.virConnect) -> None:
    hypervisor = LibvirtHypervisor(libvirt_conn, "test")
    hypervisor.ensure_running(WEB)
    libvirt_conn.lookupByName("web").suspend()
    assert hypervisor.get("web") == _running(WEB, running=False)

    hypervisor.ensure_running(WEB)

    assert hypervisor.get("web") == _running(WEB)


def test_libvirt_config_it_rejects_is_a_permanent_error(libvirt_conn: libvirt.virConnect) -> None:
    with pytest.raises(PermanentDriverError, match="domain type"):
        LibvirtHypervisor(libvirt_conn, "nonsense").ensure_running(WEB)


def test_libvirt_on_a_closed_connection_is_a_transient_error(tmp_path: Path) -> None:
    conn = libvirt.open(write_test_node(tmp_path / "node.xml", cpus=1, memory_mb=512))
    hypervisor = LibvirtHypervisor(conn, "test")
    conn.close()

    with pytest.raises(TransientDriverError):
        hypervisor.list_domains()
    with pytest.raises(TransientDriverError):
        hypervisor.ensure_running(WEB)


def test_pause_suspend_and_running_again_keep_one_domain(
    hypervisor: Hypervisor, web: DomainSpec
) -> None:
    hypervisor.ensure_running(web)
    hypervisor.ensure_paused(web)
    hypervisor.ensure_paused(web)  # again: no change
    assert hypervisor.state_of("web") == "paused"
    assert hypervisor.get("web") == _running(web, running=False)
    hypervisor.ensure_running(web)
    assert hypervisor.state_of("web") == "running"
    hypervisor.ensure_suspended(web)
    hypervisor.ensure_suspended(web)
    assert hypervisor.state_of("web") == "suspended"
    hypervisor.ensure_running(web)  # restores the saved domain
    assert hypervisor.state_of("web") == "running"
    assert [d.name for d in hypervisor.list_domains()] == ["web"]


def test_pausing_or_suspending_a_domain_that_is_off_starts_it_first(
    hypervisor: Hypervisor, web: DomainSpec, db: DomainSpec
) -> None:
    hypervisor.ensure_stopped(web)
    hypervisor.ensure_paused(web)
    assert hypervisor.state_of("web") == "paused"
    hypervisor.ensure_stopped(db)
    hypervisor.ensure_suspended(db)
    assert hypervisor.state_of("db") == "suspended"


def test_a_reboot_leaves_a_domain_running_and_starts_one_that_is_off(
    hypervisor: Hypervisor, web: DomainSpec, db: DomainSpec
) -> None:
    hypervisor.ensure_running(web)
    hypervisor.reboot(web)
    assert hypervisor.state_of("web") == "running"
    hypervisor.ensure_stopped(db)
    hypervisor.reboot(db)
    assert hypervisor.state_of("db") == "running"
    assert hypervisor.state_of("nope") is None


# Volumes: every hypervisor attaches and detaches them alike. Real (QEMU)
# domains reach real exports on a private tgtd; the others connect nothing.

VOLUME_PORTAL = Portal("192.0.2.10", 3260)  # TEST-NET: never contacted
ATTACH_C = "5b7e0c1d-2a3f-4e5d-8c9b-0a1b2c3d4e5f"
ATTACH_D = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
CHAP_SECRET = "contract-chap-secret-0123"


@pytest.fixture
def volume_disk(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[str, str], VolumeDisk]]:
    """Makes the VolumeDisk of a new volume (exported for real on QEMU)."""
    callspec = getattr(request.node, "callspec", None)
    real = callspec is not None and callspec.params.get("hypervisor") == "qemu"
    tgtd = None
    if real:
        portal = Portal("127.0.0.1", free_port())
        tgtd = Tgtd(TgtdConfig(tmp_path / "tgtd", free_control_port(), portal))
        tgtd.start()
    files = VolumeFiles(tmp_path / "volumes", SubprocessRunner())

    def make(attachment_id: str, target: str) -> VolumeDisk:
        volume_id = str(uuid.uuid4())
        user = f"vol-{volume_id[:8]}"
        address = TargetAddress(VOLUME_PORTAL, target_iqn(volume_id))
        disk = VolumeDisk(attachment_id, volume_id, target, address, user, CHAP_SECRET)
        if tgtd is not None:
            backing = files.ensure_blank(volume_id, 64 << 20)
            address = tgtd.target.ensure_export(volume_id, str(backing), user, CHAP_SECRET)
            tgtd.target.ensure_acl(volume_id, disk.initiator_iqn)
            disk = replace(disk, address=address)
        return disk

    try:
        yield make
    finally:
        if tgtd is not None:
            tgtd.stop()


def test_a_volume_attached_to_a_running_domain_is_listed_once(
    hypervisor: Hypervisor, web: DomainSpec, volume_disk: Callable[[str, str], VolumeDisk]
) -> None:
    hypervisor.ensure_running(web)
    disk = volume_disk(ATTACH_C, "vdc")

    hypervisor.ensure_volume_attached("web", disk)
    hypervisor.ensure_volume_attached("web", disk)

    assert hypervisor.attached_volumes("web") == [AttachedVolume(ATTACH_C, "vdc")]
    assert hypervisor.state_of("web") == "running"


def test_a_volume_attached_while_off_is_there_after_start(
    hypervisor: Hypervisor, web: DomainSpec, volume_disk: Callable[[str, str], VolumeDisk]
) -> None:
    hypervisor.ensure_stopped(web)

    hypervisor.ensure_volume_attached("web", volume_disk(ATTACH_C, "vdc"))
    hypervisor.ensure_running(web)

    assert hypervisor.attached_volumes("web") == [AttachedVolume(ATTACH_C, "vdc")]


def test_each_volume_gets_its_own_device(
    hypervisor: Hypervisor, web: DomainSpec, volume_disk: Callable[[str, str], VolumeDisk]
) -> None:
    hypervisor.ensure_running(web)

    hypervisor.ensure_volume_attached("web", volume_disk(ATTACH_D, "vdd"))
    hypervisor.ensure_volume_attached("web", volume_disk(ATTACH_C, "vdc"))

    assert hypervisor.attached_volumes("web") == [
        AttachedVolume(ATTACH_C, "vdc"),
        AttachedVolume(ATTACH_D, "vdd"),
    ]


def test_a_device_taken_by_another_disk_is_a_permanent_error(
    hypervisor: Hypervisor, web: DomainSpec, volume_disk: Callable[[str, str], VolumeDisk]
) -> None:
    hypervisor.ensure_running(web)
    hypervisor.ensure_volume_attached("web", volume_disk(ATTACH_C, "vdc"))

    with pytest.raises(PermanentDriverError):
        hypervisor.ensure_volume_attached("web", volume_disk(ATTACH_D, "vda"))  # the root disk
    with pytest.raises(PermanentDriverError):
        hypervisor.ensure_volume_attached("web", volume_disk(ATTACH_D, "vdc"))
    with pytest.raises(PermanentDriverError):
        hypervisor.ensure_volume_attached("web", volume_disk(ATTACH_C, "vde"))  # moved

    assert hypervisor.attached_volumes("web") == [AttachedVolume(ATTACH_C, "vdc")]


def test_attaching_to_an_unknown_domain_is_a_permanent_error(
    hypervisor: Hypervisor, volume_disk: Callable[[str, str], VolumeDisk]
) -> None:
    with pytest.raises(PermanentDriverError):
        hypervisor.ensure_volume_attached("nope", volume_disk(ATTACH_C, "vdc"))

    assert hypervisor.attached_volumes("nope") == []


def test_an_invalid_volume_disk_is_refused_and_attaches_nothing(
    hypervisor: Hypervisor, web: DomainSpec, volume_disk: Callable[[str, str], VolumeDisk]
) -> None:
    hypervisor.ensure_running(web)
    disk = volume_disk(ATTACH_C, "vdc")

    for bad in (replace(disk, chap_secret="a,b"), replace(disk, attachment_id="../x")):
        with pytest.raises(PermanentDriverError):
            hypervisor.ensure_volume_attached("web", bad)

    assert hypervisor.attached_volumes("web") == []


def test_a_stopped_domains_volume_is_detached_and_twice_is_fine(
    hypervisor: Hypervisor, web: DomainSpec, volume_disk: Callable[[str, str], VolumeDisk]
) -> None:
    hypervisor.ensure_stopped(web)
    hypervisor.ensure_volume_attached("web", volume_disk(ATTACH_C, "vdc"))
    hypervisor.ensure_volume_attached("web", volume_disk(ATTACH_D, "vdd"))

    hypervisor.ensure_volume_detached("web", ATTACH_C)
    hypervisor.ensure_volume_detached("web", ATTACH_C)

    assert hypervisor.attached_volumes("web") == [AttachedVolume(ATTACH_D, "vdd")]
    hypervisor.ensure_running(web)
    assert hypervisor.attached_volumes("web") == [AttachedVolume(ATTACH_D, "vdd")]


def test_detaching_from_an_unknown_domain_or_attachment_is_fine(
    hypervisor: Hypervisor, web: DomainSpec
) -> None:
    hypervisor.ensure_stopped(web)

    hypervisor.ensure_volume_detached("web", ATTACH_C)
    hypervisor.ensure_volume_detached("nope", ATTACH_C)

    assert hypervisor.attached_volumes("web") == []


def test_a_domain_defined_with_volumes_has_them_from_the_first_boot(
    hypervisor: Hypervisor, web: DomainSpec, volume_disk: Callable[[str, str], VolumeDisk]
) -> None:
    spec = replace(web, volumes=(volume_disk(ATTACH_C, "vdc"),))

    hypervisor.ensure_running(spec)

    assert hypervisor.attached_volumes("web") == [AttachedVolume(ATTACH_C, "vdc")]
    hypervisor.ensure_absent("web")
    assert hypervisor.attached_volumes("web") == []


def test_a_volume_may_not_share_a_device_with_a_disk_of_the_spec(
    hypervisor: Hypervisor, web: DomainSpec, volume_disk: Callable[[str, str], VolumeDisk]
) -> None:
    with pytest.raises(PermanentDriverError):
        hypervisor.ensure_running(replace(web, volumes=(volume_disk(ATTACH_C, "vda"),)))


# Network interfaces (issue 21): a guest gets the taps the network driver
# made, as <interface type='ethernet'>, on all three hypervisors. The QEMU
# host is a network namespace of the test's own, as with hosts as namespaces.

NIC = InterfaceSpec("tap0a1b2c3d4e5f", "fa:16:3e:12:34:56")
IFF_LOWER_UP = 0x10000  # the tap has carrier: a guest holds it
NIC_2 = InterfaceSpec("tap1b2c3d4e5f60", "fa:16:3e:65:43:21", "e1000")
Interfaces = Callable[[str], list[InterfaceSpec]]


def _xml_interfaces(conn: libvirt.virConnect, name: str) -> list[InterfaceSpec]:
    root = ET.fromstring(conn.lookupByName(name).XMLDesc(0))
    return [
        InterfaceSpec(
            nic.find("target").get("dev"),  # type: ignore[union-attr]
            nic.find("mac").get("address"),  # type: ignore[union-attr]
            nic.find("model").get("type"),  # type: ignore[union-attr]
        )
        for nic in root.iter("interface")
        if nic.get("type") == "ethernet"
    ]


@pytest.fixture
def host_netns(tmp_path: Path) -> Iterator[str]:
    """A namespace holding the taps NIC and NIC_2, removed afterwards."""
    name = stack_prefix(str(tmp_path)) + "-hv"
    ensure_namespace(name)
    try:
        for nic in (NIC, NIC_2):
            add_tap(name, nic.tap)
        with ipr(name) as ip:
            for nic in (NIC, NIC_2):
                ip.link("set", index=ip.link_lookup(ifname=nic.tap)[0], state="up")
        yield name
    finally:
        end_processes(namespace_pids(name))
        remove_namespace(name)


@pytest.fixture(params=HYPERVISORS)
def nic_host(request: pytest.FixtureRequest) -> Iterator[tuple[Hypervisor, Interfaces]]:
    """A hypervisor, and how to read back the interfaces a domain got."""
    if request.param == "fake":
        fake = FakeHypervisor()
        yield fake, lambda name: list(fake.defined_spec(name).interfaces)  # type: ignore[union-attr]
    elif request.param == "libvirt":
        conn = request.getfixturevalue("libvirt_conn")
        yield LibvirtHypervisor(conn, "test"), lambda name: _xml_interfaces(conn, name)
    else:
        conn = request.getfixturevalue("qemu_conn")
        netns = request.getfixturevalue("host_netns")
        qemu = LibvirtHypervisor(conn, "qemu", 1.0, netns=netns)
        try:
            yield qemu, lambda name: _xml_interfaces(conn, name)
        finally:
            for domain in qemu.list_domains():
                qemu.ensure_absent(domain.name)


def test_a_domain_gets_its_network_interfaces_in_order(
    nic_host: tuple[Hypervisor, Interfaces], web: DomainSpec
) -> None:
    hypervisor, interfaces_of = nic_host

    hypervisor.ensure_running(replace(web, interfaces=(NIC, NIC_2)))

    assert hypervisor.get("web") == _running(web)
    assert interfaces_of("web") == [NIC, NIC_2]


@pytest.mark.parametrize(
    "bad_nic",
    [
        (InterfaceSpec("tap0a1b2c3d4e5f0", NIC.mac),),  # 16 characters
        (InterfaceSpec("tap'/><x", NIC.mac),),
        (InterfaceSpec("", NIC.mac),),
        (InterfaceSpec(NIC.tap, "01:00:5e:00:00:01"),),  # multicast
        (InterfaceSpec(NIC.tap, "FA:16:3E:12:34:56'"),),
        (InterfaceSpec(NIC.tap, NIC.mac, "ne2k_isa"),),
        (NIC, InterfaceSpec(NIC.tap, NIC_2.mac)),  # one tap twice
        (NIC, InterfaceSpec(NIC_2.tap, NIC.mac)),  # one MAC twice
    ],
    ids=["long-tap", "xml-in-tap", "no-tap", "multicast", "bad-mac", "model", "tap2", "mac2"],
)
def test_an_invalid_interface_is_a_permanent_error_and_defines_nothing(
    nic_host: tuple[Hypervisor, Interfaces], bad_nic: tuple[InterfaceSpec, ...]
) -> None:
    hypervisor, _ = nic_host

    with pytest.raises(PermanentDriverError):
        hypervisor.ensure_running(replace(WEB, interfaces=bad_nic))

    assert hypervisor.list_domains() == []


def test_fake_and_test_driver_detach_from_a_running_domain(
    request: pytest.FixtureRequest, libvirt_conn: libvirt.virConnect
) -> None:
    make = request.getfixturevalue("volume_disk")
    for hypervisor in (FakeHypervisor(), LibvirtHypervisor(libvirt_conn, "test")):
        hypervisor.ensure_running(WEB)
        hypervisor.ensure_volume_attached("web", make(ATTACH_C, "vdc"))

        hypervisor.ensure_volume_detached("web", ATTACH_C)

        assert hypervisor.attached_volumes("web") == []


def test_fake_guests_that_ignore_unplug_keep_the_disk(
    volume_disk: Callable[[str, str], VolumeDisk],
) -> None:
    fake = FakeHypervisor()
    fake.ensure_running(WEB)
    fake.ensure_volume_attached("web", volume_disk(ATTACH_C, "vdc"))
    fake.guests_release_disks = False

    with pytest.raises(DetachTimeout):
        fake.ensure_volume_detached("web", ATTACH_C)

    assert fake.attached_volumes("web") == [AttachedVolume(ATTACH_C, "vdc")]


def test_test_driver_keeps_the_iscsi_source_in_the_definition_without_the_secret(
    libvirt_conn: libvirt.virConnect, volume_disk: Callable[[str, str], VolumeDisk]
) -> None:
    hypervisor = LibvirtHypervisor(libvirt_conn, "test")
    hypervisor.ensure_running(WEB)
    disk = volume_disk(ATTACH_C, "vdc")

    hypervisor.ensure_volume_attached("web", disk)

    xml = libvirt_conn.lookupByName("web").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert f"name='{disk.address.iqn}/1'" in xml
    assert disk.initiator_iqn in xml
    assert CHAP_SECRET not in xml


@pytest.mark.slow
@pytest.mark.parametrize("hypervisor", ["qemu"], indirect=True)
def test_qemu_a_guest_that_does_not_answer_unplug_keeps_the_disk(
    hypervisor: Hypervisor,
    web: DomainSpec,
    volume_disk: Callable[[str, str], VolumeDisk],
    qemu_conn: libvirt.virConnect,
) -> None:
    # No OS in this machine (it waits in its BIOS): nobody answers ACPI.
    hypervisor.ensure_running(web)
    hypervisor.ensure_volume_attached("web", volume_disk(ATTACH_C, "vdc"))

    with pytest.raises(DetachTimeout, match="did not release vdc within 2 s"):
        hypervisor.ensure_volume_detached("web", ATTACH_C)

    assert hypervisor.attached_volumes("web") == [AttachedVolume(ATTACH_C, "vdc")]
    inactive = qemu_conn.lookupByName("web").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert volume_alias(ATTACH_C) in inactive  # still in the definition too
    assert CHAP_SECRET not in qemu_conn.lookupByName("web").XMLDesc(0)


@pytest.mark.slow
def test_a_real_guest_runs_in_its_hosts_namespace_on_its_tap_while_we_stay_in_ours(
    qemu_conn: libvirt.virConnect, host_netns: str, web: DomainSpec
) -> None:
    ours = os.stat("/proc/self/ns/net").st_ino
    qemu = LibvirtHypervisor(qemu_conn, "qemu", 1.0, netns=host_netns)
    try:
        qemu.ensure_running(replace(web, interfaces=(NIC,)))

        [pid] = namespace_pids(host_netns)  # the guest's QEMU, and nothing else
        assert "qemu-system" in Path(f"/proc/{pid}/cmdline").read_text()
        assert os.stat("/proc/self/ns/net").st_ino == ours
        with ipr(host_netns) as ip:
            [tap] = ip.get_links(ip.link_lookup(ifname=NIC.tap)[0])
        assert tap.get("flags") & IFF_LOWER_UP  # QEMU holds the tap: carrier
        qemu.ensure_stopped(web)
        assert namespace_pids(host_netns) == []
    finally:
        qemu.ensure_absent("web")
