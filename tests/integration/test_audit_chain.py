"""The ledger's hash chain on real PostgreSQL: rows edited, deleted, swapped,
copied or made undecodable behind the application's back are each reported
by `cloudledger audit verify` with their notification id, and an intact
ledger (appended concurrently, or older than the chain) verifies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from helpers import Cloud, build_cloud

from commands import chain
from ops import audit_chain
from ops.cli import main
from ops.schema import create_schema
from projections.bootstrap import postgres_recorder

EVENTS, CHAIN = "cloudledger_events", "cloudledger_events_chain"


@pytest.fixture
def cloud(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    monkeypatch.setenv("CLOUDLEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("CLOUDLEDGER_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(audit_chain, "PAGE", 4)  # many pages, even for a small ledger
    cloud = build_cloud(database_url, tmp_path / "images")
    yield cloud
    cloud.app.close()


def _sql(cloud: Cloud, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(cloud.database_url, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def _ids(cloud: Cloud) -> list[int]:
    return [int(str(r[0])) for r in _sql(cloud, f"SELECT notification_id FROM {EVENTS} ORDER BY 1")]


def _verify(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify"])
    return code, capsys.readouterr().out


def test_an_untouched_ledger_verifies(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    cloud.boot("vm1")
    code, out = _verify(capsys)
    assert code == 0, out
    assert "the ledger matches what was appended" in out
    assert f"chain head (keep it, for --head): {_ids(cloud)[-1]}:" in out


def test_an_edited_event_is_reported(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    target = _ids(cloud)[5]
    _sql(cloud, f"UPDATE {EVENTS} SET state = state || '\\x20'::bytea WHERE notification_id = %s",
         (target,))  # fmt: skip
    code, out = _verify(capsys)
    assert code == 1
    assert f"BROKEN at notification id {target}: altered" in out.splitlines()[0]


def test_a_deleted_event_is_reported(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    target = _ids(cloud)[6]
    _sql(cloud, f"DELETE FROM {EVENTS} WHERE notification_id = %s", (target,))
    code, out = _verify(capsys)
    assert code == 1
    assert f"BROKEN at notification id {target}: deleted" in out.splitlines()[0]


def test_an_event_deleted_with_its_link_is_reported(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    target = _ids(cloud)[7]
    for table in (EVENTS, CHAIN):
        _sql(cloud, f"DELETE FROM {table} WHERE notification_id = %s", (target,))
    code, out = _verify(capsys)
    assert code == 1
    assert f"BROKEN at notification id {target}: deleted" in out.splitlines()[0]


def test_swapped_events_are_reported_as_reordered(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _ids(cloud)[3], _ids(cloud)[4]
    swap = f"UPDATE {EVENTS} SET notification_id = %s WHERE notification_id = %s"
    with psycopg.connect(cloud.database_url) as conn:  # one transaction
        conn.execute(swap, (-1, first))
        conn.execute(swap, (first, second))
        conn.execute(swap, (second, -1))
    code, out = _verify(capsys)
    assert code == 1
    line = out.splitlines()[0]
    assert f"BROKEN at notification id {first}: reordered" in line
    assert f"appended as {second}" in line


def test_a_copied_event_is_reported_as_inserted(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    _sql(cloud, f"INSERT INTO {EVENTS} (originator_id, originator_version, topic, state)"
         f" SELECT originator_id, originator_version + 1000, topic, state FROM {EVENTS}"
         " WHERE notification_id = %s", (_ids(cloud)[2],))  # fmt: skip
    copy = _ids(cloud)[-1]
    code, out = _verify(capsys)
    assert code == 1
    assert f"BROKEN at notification id {copy}: inserted" in out


def test_an_undecodable_row_is_reported_not_a_crash(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes that do not decode but were linked as if appended so (a writer's
    bug, not tampering): the walk says so and goes on."""
    last = _ids(cloud)[-1]
    rows = _sql(cloud, f"SELECT originator_id, originator_version, topic FROM {EVENTS}"
                " WHERE notification_id = %s", (last,))  # fmt: skip
    oid, version, topic = rows[0]
    garbage = b"\xff not json"
    digest = chain.digest(str(oid), int(str(version)), str(topic), garbage)
    (previous,) = _sql(cloud, f"SELECT c.link FROM {CHAIN} c JOIN {CHAIN} l"
                       " ON l.previous_id = c.notification_id WHERE l.notification_id = %s",
                       (last,))  # fmt: skip
    _sql(cloud, f"UPDATE {EVENTS} SET state = %s WHERE notification_id = %s", (garbage, last))
    _sql(cloud, f"UPDATE {CHAIN} SET digest = %s, link = %s WHERE notification_id = %s",
         (digest, chain.link(bytes(previous[0]), digest), last))  # type: ignore[arg-type]  # fmt: skip
    assert _verify(capsys)[0] == 0  # the bytes are as linked: only decoding finds it
    code = main(["audit", "verify", "--decode"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"BROKEN at notification id {last}: undecodable" in out


def test_concurrent_appends_keep_one_unbroken_chain(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    def boots() -> None:
        for i in range(5):
            cloud.boot(f"vm-{threading.get_ident()}-{i}")

    cloud.set_quota(instances=100, cores=100)
    threads = [threading.Thread(target=boots) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    code, out = _verify(capsys)
    assert code == 0, out


def test_a_ledger_older_than_the_chain_is_linked_from_its_first_event(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    _sql(cloud, f"TRUNCATE {CHAIN}")
    code, out = _verify(capsys)
    assert code == 1  # nothing vouches for these events yet
    create_schema(cloud.database_url)  # the migration that `cloudledger run` does first
    cloud.boot("after-the-migration")
    code, out = _verify(capsys)
    assert code == 0, out
    assert f"{len(_ids(cloud))} events checked" in out


def test_decoding_still_finds_an_edit(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    target = _ids(cloud)[1]
    _sql(cloud, f"UPDATE {EVENTS} SET topic = topic || 'x' WHERE notification_id = %s", (target,))
    code = main(["audit", "verify", "--decode"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"BROKEN at notification id {target}: altered" in out


def test_a_refused_append_leaves_a_gap_that_is_not_a_break(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version conflict rolls the append back but spends its notification ids."""
    recorder = postgres_recorder(cloud.app)
    (stored,) = recorder.select_events(cloud.quota().id, lte=1)
    with pytest.raises(IntegrityError):
        recorder.insert_events([stored])
    before = _ids(cloud)[-1]
    cloud.boot("after-the-conflict")
    assert _ids(cloud)[-1] > before + 1  # the refused append's id is skipped
    code, out = _verify(capsys)
    assert code == 0, out


def test_the_walk_goes_on_to_report_each_break(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _ids(cloud)[2], _ids(cloud)[-2]
    for target in (first, second):
        _sql(cloud, f"UPDATE {EVENTS} SET state = state || '\\x20'::bytea"
             " WHERE notification_id = %s", (target,))  # fmt: skip
    code, out = _verify(capsys)
    assert code == 1
    broken = [line for line in out.splitlines() if line.startswith("BROKEN")]
    assert [line.split(":")[0] for line in broken] == [
        f"BROKEN at notification id {first}",
        f"BROKEN at notification id {second}",
    ]


def _head(out: str) -> str:
    return out.split("for --head): ", 1)[1].split(maxsplit=1)[0]


def test_a_recorded_head_catches_a_cut_tail_and_a_rewrite(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = _verify(capsys)
    head = _head(out)
    cloud.boot("later")
    assert main(["audit", "verify", "--head", head]) == 0
    capsys.readouterr()
    last = int(head.split(":")[0])
    # Rewrite the recorded event and relink everything from it, as only
    # someone with the whole database could: the walk alone finds nothing.
    _sql(cloud, f"DELETE FROM {CHAIN} WHERE notification_id >= %s", (last,))
    _sql(cloud, f"UPDATE {EVENTS} SET state = state || '\\x20'::bytea WHERE notification_id = %s",
         (last,))  # fmt: skip
    _relink_from(cloud, last)
    assert _verify(capsys)[0] == 0
    assert main(["audit", "verify", "--head", head]) == 1
    assert f"BROKEN at notification id {last}: relinked" in capsys.readouterr().out
    # Cut the tail back past the recorded head.
    _sql(cloud, f"DELETE FROM {EVENTS} WHERE notification_id >= %s", (last,))
    _sql(cloud, f"DELETE FROM {CHAIN} WHERE notification_id >= %s", (last,))
    assert _verify(capsys)[0] == 0
    assert main(["audit", "verify", "--head", head]) == 1
    assert f"BROKEN at notification id {last}: deleted" in capsys.readouterr().out


def _relink_from(cloud: Cloud, first: int) -> None:
    (prev_id, prev) = _sql(cloud, f"SELECT notification_id, link FROM {CHAIN}"
                           " ORDER BY notification_id DESC LIMIT 1")[0]  # fmt: skip
    rows = _sql(cloud, f"SELECT notification_id, originator_id, originator_version, topic, state"
                f" FROM {EVENTS} WHERE notification_id >= %s ORDER BY 1", (first,))  # fmt: skip
    link = bytes(prev)  # type: ignore[arg-type]
    for nid, oid, version, topic, state in rows:
        d = chain.digest(str(oid), int(str(version)), str(topic), bytes(state))  # type: ignore[arg-type]
        link = chain.link(link, d)
        _sql(cloud, f"INSERT INTO {CHAIN} VALUES (%s, %s, %s, %s)", (nid, prev_id, d, link))
        prev_id = nid


def test_a_malformed_head_is_exit_2(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--head", "12:nothex"]) == 2
    assert "is not ID:LINK" in capsys.readouterr().err
