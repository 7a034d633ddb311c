"""TgtIscsiTarget's tgtadm command lines and its reading of tgtadm's report,
with FakeRunner (no tgtd). The behaviour against a real tgtd is
tests/integration/test_iscsi_contract.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.drivers.errors import PermanentDriverError, TransientDriverError
from workers.drivers.iscsi import (
    ExportInUse,
    Portal,
    WantedExport,
    attachment_initiator_iqn,
    target_iqn,
    volume_id_of,
)
from workers.drivers.runner import MASK, FakeRunner
from workers.drivers.tgt import TgtIscsiTarget
from workers.drivers.tgt_show import parse_accounts, parse_targets

VOLUME = "0e9d4c1a-6b2f-4c3d-9e8f-7a6b5c4d3e2f"
IQN = target_iqn(VOLUME)
INITIATOR = attachment_initiator_iqn("5b7e0c1d-2a3f-4e5d-8c9b-0a1b2c3d4e5f")
SECRET = "s3cret-chap-value"
ADM = ("tgtadm", "-C", "4711", "--lld", "iscsi")

SHOW = f"""Target 1: iqn.2001-04.com.example:not-ours
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
    LUN information:
        LUN: 0
            Type: controller
            Backing store type: null
            Backing store path: None
            Backing store flags: 
    Account information:
    ACL information:
        ALL
Target 3: {IQN}
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
        I_T nexus: 2
            Initiator: {INITIATOR} alias: none
            Connection: 0
                IP Address: 127.0.0.1
    LUN information:
        LUN: 0
            Type: controller
            Backing store path: None
        LUN: 1
            Type: disk
            Size: 1074 MB, Block size: 512
            Backing store type: rdwr
            Backing store path: /srv/volumes/volume-{VOLUME}
            Backing store flags: 
    Account information:
        vol-0e9d4c1a
        out-user (outgoing)
    ACL information:
        {INITIATOR}
"""  # noqa: W291 - tgtadm's own trailing spaces


def _driver(runner: FakeRunner) -> TgtIscsiTarget:
    return TgtIscsiTarget(runner, 4711, Portal("192.0.2.10", 3260))


def test_the_report_is_read_target_by_target() -> None:
    theirs, ours = parse_targets(SHOW)

    assert (theirs.tid, theirs.iqn, theirs.luns, theirs.acl) == (
        1,
        "iqn.2001-04.com.example:not-ours",
        {0: None},
        ["ALL"],
    )
    assert (ours.tid, ours.iqn) == (3, IQN)
    assert ours.luns == {0: None, 1: f"/srv/volumes/volume-{VOLUME}"}
    assert ours.sessions == [INITIATOR]
    assert ours.accounts == ["vol-0e9d4c1a"]  # the outgoing account is not a way in
    assert ours.acl == [INITIATOR]


def test_accounts_are_read_from_their_own_report() -> None:
    assert parse_accounts("Account list:\n    a1\n    b2\n") == ["a1", "b2"]
    assert parse_accounts("") == []


def test_only_targets_named_by_the_driver_are_listed() -> None:
    runner = FakeRunner()
    runner.answer((*ADM, "--op", "show", "--mode", "target"), SHOW)

    [export] = _driver(runner).list_exports()

    assert export.volume_id == VOLUME
    assert export.sessions == (INITIATOR,)
    assert export.backing_file == f"/srv/volumes/volume-{VOLUME}"


def test_target_names_come_from_the_volume_id_alone() -> None:
    assert f"iqn.2026-12.org.cloudledger:volume-{VOLUME}" == IQN
    assert target_iqn(VOLUME.upper()) == IQN
    assert volume_id_of(IQN) == VOLUME
    assert volume_id_of("iqn.2026-12.org.cloudledger:volume-../../etc") is None
    with pytest.raises(PermanentDriverError):
        target_iqn("web; rm -rf /")


def test_a_new_export_is_five_tgtadm_calls_and_the_secret_is_masked(tmp_path: Path) -> None:
    backing = tmp_path / "volume"
    backing.write_bytes(b"")
    runner = FakeRunner()

    address = _driver(runner).ensure_export(VOLUME, str(backing), "vol-0e9d4c1a", SECRET)

    assert [c[5:] for c in runner.calls if "show" in c] == [("--op", "show", "--mode", "target")]
    changes = [c[5:] for c in runner.calls if "show" not in c]
    assert changes == [
        ("--op", "new", "--mode", "target", "--tid", "1", "--targetname", IQN),
        ("--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1",
         "--backing-store", str(backing), "--bstype", "rdwr"),
        ("--op", "new", "--mode", "account", "--user", "vol-0e9d4c1a", "--password", SECRET),
        ("--op", "bind", "--mode", "account", "--tid", "1", "--user", "vol-0e9d4c1a"),
    ]  # fmt: skip
    assert (address.iqn, address.lun, str(address.portal)) == (IQN, 1, "192.0.2.10:3260")


def test_a_refused_account_names_no_secret(tmp_path: Path) -> None:
    backing = tmp_path / "volume"
    backing.write_bytes(b"")
    runner = FakeRunner()
    runner.answer(
        (*ADM, "--op", "new", "--mode", "account"),
        returncode=22,
        stderr=f"tgtadm: bad password {SECRET}",
    )

    with pytest.raises(PermanentDriverError) as caught:
        _driver(runner).ensure_export(VOLUME, str(backing), "vol-0e9d4c1a", SECRET)

    assert SECRET not in str(caught.value) and MASK in str(caught.value)


def test_an_export_on_another_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    runner = FakeRunner()
    runner.answer((*ADM, "--op", "show", "--mode", "target"), SHOW)
    other = tmp_path / f"volume-{VOLUME}"
    other.write_bytes(b"")

    with pytest.raises(PermanentDriverError, match="exported from /srv/volumes"):
        _driver(runner).ensure_export(VOLUME, str(other), "vol-0e9d4c1a", SECRET)

    assert all("show" in call for call in runner.calls)


def test_removing_an_export_with_a_session_changes_nothing() -> None:
    runner = FakeRunner()
    runner.answer((*ADM, "--op", "show", "--mode", "target"), SHOW)

    with pytest.raises(ExportInUse) as caught:
        _driver(runner).remove_export(VOLUME)

    assert caught.value.sessions == (INITIATOR,)
    assert [c for c in runner.calls if "delete" in c] == []


def test_an_acl_entry_already_there_is_not_added_again() -> None:
    runner = FakeRunner()
    runner.answer((*ADM, "--op", "show", "--mode", "target"), SHOW)

    _driver(runner).ensure_acl(VOLUME, INITIATOR)

    assert [c for c in runner.calls if "bind" in c] == []


@pytest.mark.parametrize(
    ("user", "secret"),
    [
        ("vol,password=x", SECRET),  # would add a tgtadm parameter
        ("vol user", SECRET),
        ("vol-1", "short"),
        ("vol-1", "has,comma-in-it"),
        ("vol-1", "has space in it"),
        ("vol-1", "percent%2Cencoded"),
    ],
)
def test_chap_values_that_could_break_a_command_line_are_refused(
    tmp_path: Path,
    user: str,
    secret: str,
) -> None:
    backing = tmp_path / "volume"
    backing.write_bytes(b"")
    runner = FakeRunner()

    with pytest.raises(PermanentDriverError) as caught:
        _driver(runner).ensure_export(VOLUME, str(backing), user, secret)

    assert runner.calls == []
    assert secret not in str(caught.value)


def test_an_initiator_name_with_a_comma_is_refused() -> None:
    runner = FakeRunner()

    with pytest.raises(PermanentDriverError):
        _driver(runner).ensure_acl(VOLUME, "iqn.2026-12.org.x:a,initiator-address=ALL")

    assert runner.calls == []


def test_a_daemon_that_does_not_answer_is_transient() -> None:
    runner = FakeRunner()
    runner.answer(
        ADM,
        returncode=107,
        stderr="tgtadm: failed to send request hdr to tgt daemon, Transport endpoint is not connected",  # noqa: E501
    )

    with pytest.raises(TransientDriverError, match="control port 4711"):
        _driver(runner).list_exports()


def test_a_wanted_export_never_shows_its_secret() -> None:
    wanted = WantedExport(VOLUME, "/srv/v", "vol-1", SECRET, (INITIATOR,))

    assert SECRET not in repr(wanted)
