"""Contract tests every IscsiTarget must pass: the in-memory fake, and tgt
through a private tgtd on 127.0.0.1 (logins there are real: QEMU's own
initiator in a qemu-storage-daemon, with CHAP)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ops.ports import free_port
from ops.tgtd import Tgtd, TgtdConfig, free_control_port
from workers.drivers.errors import DriverError, PermanentDriverError, TransientDriverError
from workers.drivers.fake_iscsi import FakeIscsiTarget
from workers.drivers.iscsi import (
    ExportInUse,
    IscsiTarget,
    Portal,
    TargetAddress,
    attachment_initiator_iqn,
    target_iqn,
)
from workers.drivers.runner import SubprocessRunner
from workers.drivers.volume_connector import QsdConnector, VolumeDisk

VOLUME = "0e9d4c1a-6b2f-4c3d-9e8f-7a6b5c4d3e2f"
OTHER_VOLUME = "7d3c2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a09"
ATTACHMENT = "5b7e0c1d-2a3f-4e5d-8c9b-0a1b2c3d4e5f"
OTHER_ATTACHMENT = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
SECRET = "chap-secret-0e9d4c1a-xyz"


def _user(volume: str) -> str:
    """Each volume's CHAP account name (the volume worker derives it the same way)."""
    return f"vol-{volume[:8]}"


USER = _user(VOLUME)


@dataclass
class Harness:
    """An IscsiTarget and a way to try logging in to it as an initiator."""

    target: IscsiTarget
    folder: Path
    login: Callable[[str, str, str], bool]  # volume, attachment, secret -> got in
    logout: Callable[[str], None]  # attachment
    logged_in: list[str] = field(default_factory=list)

    def backing(self, name: str = "volume", size: int = 64 << 20) -> str:
        path = self.folder / name
        if not path.exists():
            with path.open("wb") as file:
                file.truncate(size)
        return str(path)


def _fake(tmp_path: Path) -> Iterator[Harness]:
    fake = FakeIscsiTarget()

    def login(volume: str, attachment: str, secret: str) -> bool:
        return fake.open_session(volume, attachment_initiator_iqn(attachment), secret)

    def logout(attachment: str) -> None:
        for export in fake.list_exports():
            fake.close_session(export.volume_id, attachment_initiator_iqn(attachment))

    yield Harness(fake, tmp_path, login, logout)


def _tgt(tmp_path: Path, sockets: Path) -> Iterator[Harness]:
    """``sockets``: a folder with a short path (the ``short_dir`` fixture)."""
    runner = SubprocessRunner()
    tgtd = Tgtd(
        TgtdConfig(tmp_path / "tgtd", free_control_port(), Portal("127.0.0.1", free_port())),
        runner=runner,
    )
    connector = QsdConnector(sockets / "conn", runner)
    target = tgtd.target

    def login(volume: str, attachment: str, secret: str) -> bool:
        address = TargetAddress(target.portal, target_iqn(volume))
        disk = VolumeDisk(attachment, volume, "vdc", address, _user(volume), secret)
        try:
            connector.ensure_connected(disk)
        except DriverError:  # refused (permanent) or no such target (transient)
            return False
        return True

    tgtd.start()
    try:
        yield Harness(target, tmp_path, login, connector.ensure_disconnected)
    finally:
        for attachment in connector.connected():
            connector.ensure_disconnected(attachment)
        tgtd.stop()


@pytest.fixture(params=["fake", "tgt"])
def iscsi(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "fake":
        yield from _fake(tmp_path)
    else:
        yield from _tgt(tmp_path, request.getfixturevalue("short_dir"))


def _exported(h: Harness, volume: str = VOLUME, initiators: tuple[str, ...] = ()) -> None:
    h.target.ensure_export(volume, h.backing(volume), _user(volume), SECRET)
    for attachment in initiators:
        h.target.ensure_acl(volume, attachment_initiator_iqn(attachment))


def test_a_new_daemon_has_no_exports(iscsi: Harness) -> None:
    assert iscsi.target.list_exports() == []


def test_an_export_is_named_from_the_volume_id_and_listed(iscsi: Harness) -> None:
    backing = iscsi.backing()

    address = iscsi.target.ensure_export(VOLUME, backing, USER, SECRET)

    assert address == TargetAddress(iscsi.target.portal, target_iqn(VOLUME), 1)
    [export] = iscsi.target.list_exports()
    assert (export.volume_id, export.iqn, export.backing_file) == (VOLUME, address.iqn, backing)
    assert (export.chap_users, export.initiators, export.sessions) == ((USER,), (), ())


def test_a_second_ensure_export_changes_nothing(iscsi: Harness) -> None:
    backing = iscsi.backing()
    first = iscsi.target.ensure_export(VOLUME, backing, USER, SECRET)
    before = iscsi.target.list_exports()

    again = iscsi.target.ensure_export(VOLUME.upper(), backing, USER, SECRET)

    assert again == first
    assert iscsi.target.list_exports() == before


def test_nobody_logs_in_before_an_acl_names_them(iscsi: Harness) -> None:
    _exported(iscsi)

    assert not iscsi.login(VOLUME, ATTACHMENT, SECRET)


def test_the_named_initiator_logs_in_with_the_secret_and_shows_as_a_session(
    iscsi: Harness,
) -> None:
    _exported(iscsi, initiators=(ATTACHMENT,))

    assert iscsi.login(VOLUME, ATTACHMENT, SECRET)

    [export] = iscsi.target.list_exports()
    assert export.initiators == export.sessions == (attachment_initiator_iqn(ATTACHMENT),)


def test_a_wrong_secret_is_refused(iscsi: Harness) -> None:
    _exported(iscsi, initiators=(ATTACHMENT,))

    assert not iscsi.login(VOLUME, ATTACHMENT, "not-the-chap-secret")
    assert iscsi.target.list_exports()[0].sessions == ()


def test_an_initiator_the_acl_does_not_name_is_refused(iscsi: Harness) -> None:
    _exported(iscsi, initiators=(ATTACHMENT,))

    assert not iscsi.login(VOLUME, OTHER_ATTACHMENT, SECRET)


def test_one_volumes_acl_opens_no_other_volume(iscsi: Harness) -> None:
    _exported(iscsi, initiators=(ATTACHMENT,))
    _exported(iscsi, OTHER_VOLUME)

    assert not iscsi.login(OTHER_VOLUME, ATTACHMENT, SECRET)


def test_ensure_acl_twice_keeps_one_entry_and_remove_acl_closes_it(iscsi: Harness) -> None:
    _exported(iscsi, initiators=(ATTACHMENT, ATTACHMENT, OTHER_ATTACHMENT))
    assert len(iscsi.target.list_exports()[0].initiators) == 2

    iscsi.target.remove_acl(VOLUME, attachment_initiator_iqn(ATTACHMENT))
    iscsi.target.remove_acl(VOLUME, attachment_initiator_iqn(ATTACHMENT))  # again: fine

    assert iscsi.target.list_exports()[0].initiators == (
        attachment_initiator_iqn(OTHER_ATTACHMENT),
    )
    assert not iscsi.login(VOLUME, ATTACHMENT, SECRET)


def test_an_acl_needs_an_export(iscsi: Harness) -> None:
    with pytest.raises(PermanentDriverError):
        iscsi.target.ensure_acl(VOLUME, attachment_initiator_iqn(ATTACHMENT))

    iscsi.target.remove_acl(VOLUME, attachment_initiator_iqn(ATTACHMENT))  # nothing: fine
    assert iscsi.target.list_exports() == []


def test_an_export_in_use_refuses_removal_and_stays_whole(iscsi: Harness) -> None:
    _exported(iscsi, initiators=(ATTACHMENT,))
    assert iscsi.login(VOLUME, ATTACHMENT, SECRET)
    before = iscsi.target.list_exports()

    with pytest.raises(ExportInUse) as caught:
        iscsi.target.remove_export(VOLUME)

    assert isinstance(caught.value, TransientDriverError)
    assert caught.value.sessions == (attachment_initiator_iqn(ATTACHMENT),)
    assert iscsi.target.list_exports() == before


def test_after_logout_the_export_is_removed_and_a_second_removal_is_fine(
    iscsi: Harness,
) -> None:
    _exported(iscsi, initiators=(ATTACHMENT,))
    assert iscsi.login(VOLUME, ATTACHMENT, SECRET)
    iscsi.logout(ATTACHMENT)

    iscsi.target.remove_export(VOLUME)
    iscsi.target.remove_export(VOLUME)

    assert iscsi.target.list_exports() == []
    assert not iscsi.login(VOLUME, ATTACHMENT, SECRET)


def test_a_removed_export_can_be_made_again(iscsi: Harness) -> None:
    _exported(iscsi, initiators=(ATTACHMENT,))
    iscsi.target.remove_export(VOLUME)

    _exported(iscsi, initiators=(ATTACHMENT,))

    assert iscsi.login(VOLUME, ATTACHMENT, SECRET)


def test_exports_are_listed_by_volume_id(iscsi: Harness) -> None:
    _exported(iscsi, OTHER_VOLUME)
    _exported(iscsi, VOLUME)

    assert [e.volume_id for e in iscsi.target.list_exports()] == sorted([VOLUME, OTHER_VOLUME])


def test_a_missing_backing_file_is_a_permanent_error(iscsi: Harness) -> None:
    with pytest.raises(PermanentDriverError):
        iscsi.target.ensure_export(VOLUME, str(iscsi.folder / "nope"), USER, SECRET)

    assert iscsi.target.list_exports() == []


def test_an_export_on_another_file_is_a_permanent_error(iscsi: Harness) -> None:
    iscsi.target.ensure_export(VOLUME, iscsi.backing("one"), USER, SECRET)

    with pytest.raises(PermanentDriverError):
        iscsi.target.ensure_export(VOLUME, iscsi.backing("two"), USER, SECRET)

    assert iscsi.target.list_exports()[0].backing_file == iscsi.backing("one")


@pytest.mark.parametrize(
    ("volume", "user", "secret"),
    [
        ("../../etc/passwd", USER, SECRET),
        (VOLUME, "vol,password=x", SECRET),
        (VOLUME, USER, "short"),
        (VOLUME, USER, "secret,user=other-user"),
    ],
    ids=["volume-id", "user", "short-secret", "comma-secret"],
)
def test_bad_input_is_refused_before_anything_is_exported(
    iscsi: Harness, volume: str, user: str, secret: str
) -> None:
    with pytest.raises(PermanentDriverError) as caught:
        iscsi.target.ensure_export(volume, iscsi.backing(), user, secret)

    assert secret not in str(caught.value)
    assert iscsi.target.list_exports() == []


def test_an_initiator_name_that_is_not_an_iqn_is_refused(iscsi: Harness) -> None:
    _exported(iscsi)

    for bad in (
        "ALL",
        "127.0.0.1",
        "iqn.2026-12.org.x:a,b",
        f"{attachment_initiator_iqn(ATTACHMENT)} ",
    ):
        with pytest.raises(PermanentDriverError):
            iscsi.target.ensure_acl(VOLUME, bad)

    assert iscsi.target.list_exports()[0].initiators == ()


# Behaviour specific to one implementation.


def test_fake_fail_next_raises_once_then_works(tmp_path: Path) -> None:
    harness = next(_fake(tmp_path))
    fake = harness.target
    assert isinstance(fake, FakeIscsiTarget)
    fake.fail_next(TransientDriverError("tgtd restarting"))

    with pytest.raises(TransientDriverError):
        fake.ensure_export(VOLUME, harness.backing(), USER, SECRET)

    assert fake.list_exports() == []
    fake.ensure_export(VOLUME, harness.backing(), USER, SECRET)
    assert len(fake.list_exports()) == 1


def test_tgt_exports_of_one_daemon_are_invisible_to_another(
    tmp_path: Path, short_dir: Path
) -> None:
    harness = _tgt(tmp_path / "a", short_dir / "a")
    first = next(harness)
    second_gen = _tgt(tmp_path / "b", short_dir / "b")
    second = next(second_gen)
    try:
        _exported(first)

        assert second.target.list_exports() == []
        second.target.remove_export(VOLUME)  # not its target: nothing happens
        assert len(first.target.list_exports()) == 1
    finally:
        for gen in (harness, second_gen):
            with pytest.raises(StopIteration):
                next(gen)


def test_tgt_a_daemon_that_is_gone_is_a_transient_error(tmp_path: Path, short_dir: Path) -> None:
    gen = _tgt(tmp_path, short_dir)
    harness = next(gen)
    with pytest.raises(StopIteration):
        next(gen)  # stops tgtd

    with pytest.raises(TransientDriverError):
        harness.target.list_exports()


def test_driver_errors_never_carry_the_secret(iscsi: Harness) -> None:
    iscsi.target.ensure_export(VOLUME, iscsi.backing("one"), USER, SECRET)
    try:
        iscsi.target.ensure_export(VOLUME, iscsi.backing("two"), USER, SECRET)
    except DriverError as error:
        assert SECRET not in str(error)
    assert SECRET not in repr(iscsi.target.list_exports())
