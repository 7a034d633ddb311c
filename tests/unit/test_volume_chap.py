"""Per-volume CHAP credentials derived from the storage key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from workers.drivers.chap import chap_for, load_or_create_key
from workers.drivers.errors import PermanentDriverError
from workers.drivers.iscsi import validate_chap

KEY = bytes(range(32))
VOLUME = "0e9d4c1a-6b2f-4c3d-9e8f-7a6b5c4d3e2f"
OTHER = "0e9d4c1a-0000-4000-8000-000000000000"  # the same first 8 digits


def test_the_same_key_and_volume_give_the_same_account() -> None:
    assert chap_for(KEY, VOLUME) == chap_for(KEY, VOLUME.upper())


def test_volumes_and_keys_give_unrelated_accounts() -> None:
    one, other = chap_for(KEY, VOLUME), chap_for(KEY, OTHER)
    rekeyed = chap_for(bytes(32), VOLUME)

    assert one.user != other.user  # account names are global in tgtd
    assert len({one.secret, other.secret, rekeyed.secret}) == 3
    assert rekeyed.user == one.user


def test_credentials_pass_the_drivers_own_checks_and_hide_the_secret() -> None:
    credentials = chap_for(KEY, VOLUME)

    validate_chap(credentials.user, credentials.secret)
    assert len(credentials.secret) == 24
    assert credentials.secret not in repr(credentials)


def test_a_short_key_or_a_bad_volume_id_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        chap_for(b"short", VOLUME)
    with pytest.raises(PermanentDriverError):
        chap_for(KEY, "../etc")


def test_the_key_is_made_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "storage" / "chap.key"

    key = load_or_create_key(path)

    assert len(key) == 32 and load_or_create_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["chap.key"]
