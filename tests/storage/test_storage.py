"""The audit store: moves, compare-and-set under concurrency, the chain, migrations, queries."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from bot.actors import SYSTEM, Actor
from bot.sandbox.stage import Stage
from bot.workflow.transitions import approve
from storage import chain, queries, schema
from storage.checkpoints import Checkpoints
from storage.domain import NewInvoice
from storage.errors import IllegalTransition, StaleState
from storage.store import BUSY_TIMEOUT_MS, AuditStore

ANA = Actor("U0ANA", "Ana")
BETO = Actor("U0BETO", "Beto")


def new_request(store: AuditStore, refs: tuple[str, ...] = ("A-1", "A-2"),
                requester: Actor = ANA) -> int:
    with store.transaction() as tx:
        return tx.create_request(kind="cancel", requester=requester, reason="02",
                                 justification="duplicada",
                                 invoices=[NewInvoice(ref_key=r) for r in refs])


def event_count(store: AuditStore) -> int:
    return store.db.execute("SELECT count(*) FROM events").fetchone()[0]


def test_the_file_is_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    store = AuditStore.open(tmp_path / "nested" / "dir" / "audit.db")
    pragma = lambda name: store.db.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
    assert pragma("journal_mode") == "wal"
    assert pragma("foreign_keys") == 1
    assert pragma("busy_timeout") == BUSY_TIMEOUT_MS > 0
    assert schema.version(store.db) == schema.LATEST
    store.close()


def test_a_legal_path_records_every_move(store: AuditStore) -> None:
    request_id = new_request(store)
    for target in ("approved", "submitting", "submitted", "completed"):
        store.transition("request", request_id, target, BETO)
    trail = [(e["action"], e["actor_id"]) for e in queries.events(store, request_id)]
    assert trail == [("request_created", "U0ANA"), ("request_approved", "U0BETO"),
                     ("request_submitting", "U0BETO"), ("request_submitted", "U0BETO"),
                     ("request_completed", "U0BETO")]
    assert queries.get_request(store, request_id)["status"] == "completed"


@pytest.mark.parametrize(("path", "illegal"), [
    ((), "submitting"),                       # not approved yet
    (("rejected",), "approved"),              # a rejected request stays rejected
    (("approved", "submitting", "submitted", "completed"), "failed"),
    (("expired",), "approved"),
])
def test_an_illegal_move_raises_and_writes_nothing(store: AuditStore, path: tuple[str, ...],
                                                   illegal: str) -> None:
    request_id = new_request(store)
    for target in path:
        store.transition("request", request_id, target, BETO)
    before = (event_count(store), queries.get_request(store, request_id))
    with pytest.raises(IllegalTransition, match=f"cannot move from .* to {illegal}"):
        store.transition("request", request_id, illegal, BETO)
    assert (event_count(store), queries.get_request(store, request_id)) == before


def test_invoice_moves_follow_design_states(store: AuditStore) -> None:
    request_id = new_request(store)
    first, second = queries.request_invoices(store, request_id)
    store.transition("invoice", first["id"], "pending", SYSTEM, fields={"code": "211"})
    store.transition("invoice", first["id"], "denied", SYSTEM)
    with pytest.raises(IllegalTransition):
        store.transition("invoice", first["id"], "canceled", SYSTEM)
    with pytest.raises(IllegalTransition):
        store.transition("invoice", second["id"], "requested", SYSTEM)  # no move to itself
    with pytest.raises(ValueError, match="cannot set"):
        store.transition("invoice", second["id"], "canceled", SYSTEM, fields={"status": "x"})


def test_a_failure_inside_a_transaction_leaves_no_partial_state(store: AuditStore) -> None:
    request_id = new_request(store)
    invoices = queries.request_invoices(store, request_id)
    before = event_count(store)
    with pytest.raises(IllegalTransition), store.transaction() as tx:
        tx.transition("request", request_id, "approved", BETO)
        tx.transition("invoice", invoices[0]["id"], "canceled", SYSTEM)
        tx.transition("invoice", invoices[1]["id"], "requested", SYSTEM)  # illegal: all undone
    assert event_count(store) == before
    assert queries.get_request(store, request_id)["status"] == "awaiting_approval"
    assert {i["status"] for i in queries.request_invoices(store, request_id)} == {"requested"}
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.transition("request", request_id, "approved", BETO)
        raise RuntimeError("the process failed between two writes")
    assert queries.get_request(store, request_id)["status"] == "awaiting_approval"


def test_compare_and_set_refuses_a_stale_expectation(store: AuditStore) -> None:
    request_id = new_request(store)
    store.transition("request", request_id, "approved", BETO, expect="awaiting_approval")
    with pytest.raises(StaleState, match="is approved, not awaiting_approval"):
        store.transition("request", request_id, "approved", ANA, expect="awaiting_approval")


def _approve_in_thread(path: Path, request_id: int, actor: Actor, start: threading.Barrier,
                       results: list[str]) -> None:
    store = AuditStore.open(path)
    start.wait()
    try:
        won = asyncio.run(approve(store, request_id, actor, required=1))
        results.append("won" if won else "counted")
    except StaleState:
        results.append("lost")
    finally:
        store.close()


def test_racing_approvers_in_threads_submit_once(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore.open(path)
    request_id = new_request(store)
    approvers = [Actor(f"U0APR{i}", f"Approver {i}") for i in range(8)]
    start, results = threading.Barrier(len(approvers)), []
    threads = [threading.Thread(target=_approve_in_thread,
                                args=(path, request_id, a, start, results)) for a in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["lost"] * 7 + ["won"]
    approved = [e for e in queries.events(store, request_id)
                if e["action"] == "request_approved"]
    assert len(approved) == 1
    assert chain.verify(store.db).ok
    store.close()


def _approve_in_process(path: str, request_id: int, user: str, start: object,
                        results: object) -> None:
    store = AuditStore.open(path)
    start.wait()  # type: ignore[attr-defined]
    try:
        won = asyncio.run(approve(store, request_id, Actor(user, user), required=1))
        outcome = "won" if won else "?"
    except StaleState:
        outcome = "lost"
    results.put(outcome)  # type: ignore[attr-defined]
    store.close()


def test_racing_approvers_in_two_processes_submit_once(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore.open(path)
    context = multiprocessing.get_context("spawn")
    for round_ in range(3):
        request_id = new_request(store, refs=(f"R{round_}-1",))
        start, results = context.Barrier(2), context.Queue()
        workers = [context.Process(target=_approve_in_process,
                                   args=(str(path), request_id, f"U0P{n}", start, results))
                   for n in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert sorted(results.get(timeout=5) for _ in workers) == ["lost", "won"]
    assert chain.verify(store.db).ok
    store.close()


async def test_the_same_approver_cannot_approve_twice(store: AuditStore) -> None:
    request_id = new_request(store)
    assert await approve(store, request_id, BETO, required=2) is False
    with pytest.raises(sqlite3.IntegrityError):
        await approve(store, request_id, BETO, required=2)
    assert await approve(store, request_id, Actor("U0CARL", "Carla"), required=2) is True


def test_events_refuse_update_and_delete(store: AuditStore) -> None:
    new_request(store)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE events SET actor_name = 'nadie'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM events")


def _tamper(store: AuditStore, sql: str) -> None:
    store.db.execute("DROP TRIGGER events_no_update")
    store.db.execute("DROP TRIGGER events_no_delete")
    store.db.execute(sql)


def test_verify_catches_an_edited_event(store: AuditStore) -> None:
    for n in range(3):
        new_request(store, refs=(f"E-{n}",))
    assert chain.verify(store.db) == chain.Verdict(checked=3, head=chain.verify(store.db).head)
    _tamper(store, "UPDATE events SET details = '{\"justification\":\"otra\"}' WHERE id = 2")
    verdict = chain.verify(store.db)
    assert (verdict.ok, verdict.bad_event, verdict.checked) == (False, 2, 1)
    assert "edited" in (verdict.problem or "")


def test_verify_catches_a_deleted_event(store: AuditStore) -> None:
    for n in range(4):
        new_request(store, refs=(f"D-{n}",))
    _tamper(store, "DELETE FROM events WHERE id = 2")
    verdict = chain.verify(store.db)
    assert (verdict.ok, verdict.bad_event) == (False, 3)


def test_secrets_given_to_the_store_are_never_written(tmp_path: Path) -> None:
    store = AuditStore.open(tmp_path / "a.db", secrets=["Sup3r-Secret-PW"])
    store.record(SYSTEM, "provider_error", details={"message": "login Sup3r-Secret-PW refused"})
    assert "login *** refused" in queries.events(store)[0]["details"]
    assert chain.verify(store.db).ok
    store.close()  # checkpoints the WAL into the file
    assert b"Sup3r-Secret-PW" not in (tmp_path / "a.db").read_bytes()


def test_migration_from_empty_and_from_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    assert schema.migrate(old, target=1) == 1
    old.execute("INSERT INTO requests (kind, requester_id, requester_name, status, created_at, "
                "updated_at) VALUES ('cancel', 'U1', 'Uno', 'awaiting_approval', 'x', 'x')")
    old.conn.close()
    store = AuditStore.open(path)
    assert schema.version(store.db) == schema.LATEST
    assert store.db["requests"].count == 1  # upgraded, not wiped
    assert "invoices_due" in {i.name for i in store.db["invoices"].indexes}
    store.close()
    again = AuditStore.open(path)  # re-running is harmless
    assert schema.version(again.db) == schema.LATEST and again.db["requests"].count == 1
    again.close()


class Clock:
    """A clock the test moves by hand."""
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_the_queries_answer_and_use_their_index(tmp_path: Path) -> None:
    clock = Clock()
    store = AuditStore.open(tmp_path / "q.db", clock=clock)
    old = new_request(store, refs=("3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2B", "FAC-7"))
    clock.now += timedelta(hours=80)
    fresh = new_request(store, refs=("B-9",), requester=BETO)
    uuid_row, folio_row = queries.request_invoices(store, old)
    store.db.execute("UPDATE invoices SET uuid = ref_key WHERE id = ?", [uuid_row["id"]])
    store.db.execute("UPDATE invoices SET serie = 'FAC', folio = 7 WHERE id = ?",
                     [folio_row["id"]])
    due_at = clock.now - timedelta(minutes=1)
    store.transition("invoice", folio_row["id"], "pending", SYSTEM,
                     fields={"next_check_at": due_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})

    trail = queries.invoice_trail(store, uuid=uuid_row["ref_key"])
    assert [i["request_id"] for i in trail["invoices"]] == [old]
    assert [e["action"] for e in trail["events"]] == ["request_created"]
    by_folio = queries.invoice_trail(store, serie="FAC", folio=7)
    assert [e["action"] for e in by_folio["events"]] == ["request_created", "invoice_pending"]
    assert [r["id"] for r in queries.recent_requests(store, "U0ANA")] == [old]
    assert [r["id"] for r in queries.awaiting_approval(store)] == [old, fresh]
    older = queries.awaiting_approval(store, older_than=clock.now - timedelta(hours=72))
    assert [r["id"] for r in older] == [old]
    assert [i["id"] for i in queries.due_pending(store, clock.now)] == [folio_row["id"]]
    assert queries.due_pending(store, due_at - timedelta(seconds=1)) == []
    assert queries.counts(store)["invoices"] == {"pending": 1, "requested": 2}
    assert [r["ref_key"] for r in queries.active_elsewhere(store, ["FAC-7", "Z-1"])] == \
        ["FAC-7"]

    plans = {
        "invoices_by_uuid": "SELECT * FROM invoices WHERE uuid = 'x'",
        "invoices_by_serie_folio": "SELECT * FROM invoices WHERE serie = 'A' AND folio = 1",
        "events_by_request": "SELECT * FROM events WHERE request_id = 1 ORDER BY id",
        "requests_by_requester": "SELECT * FROM requests WHERE requester_id = 'U' "
                                 "ORDER BY created_at DESC LIMIT 10",
        "requests_by_status": "SELECT * FROM requests WHERE status = 'awaiting_approval' "
                              "AND created_at <= 'z' ORDER BY created_at",
        "invoices_due": "SELECT * FROM invoices WHERE status = 'pending' AND "
                        "next_check_at <= 'z' ORDER BY next_check_at LIMIT 5",
        "invoices_by_ref": "SELECT * FROM invoices WHERE ref_key IN ('a') AND status IN ('x')",
    }
    for index, sql in plans.items():
        plan = " ".join(str(row[-1]) for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert index in plan, (index, plan)
    store.close()



def _fill_wal(store: AuditStore, commits: int = 250) -> None:
    """About 1,250 pages of commits: past SQLite's automatic checkpoint (1,000 pages)."""
    for n in range(commits):
        with store.transaction() as tx:
            tx.record(ANA, "filler", details={"n": n, "text": f"{n:05d}" * 4_000})


def _in_the_file(path: Path, action: str) -> int:
    """Events in the database file itself, ignoring the WAL (what a checkpoint copied)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM events WHERE action = ?",
                            (action,)).fetchone()[0]
    finally:
        conn.close()


def test_deferred_checkpoints_leave_the_copying_to_the_worker(tmp_path: Path) -> None:
    """The bot's commits never copy the WAL into the file (a 5-9 ms sync on the event loop,
    once per 1,000 pages); Checkpoints.run, in a worker thread, copies it all. The same
    writes with the default setting leave the worker almost nothing to copy."""
    deferred = AuditStore.open(tmp_path / "deferred.db")
    checkpoints = deferred.defer_checkpoints()
    checkpoints.run()  # the schema, written at open
    _fill_wal(deferred)
    assert _in_the_file(tmp_path / "deferred.db", "filler") == 0
    assert checkpoints.run() > 1_000
    assert _in_the_file(tmp_path / "deferred.db", "filler") == 250
    checkpoints.close()
    assert checkpoints.run() == 0  # closed: later runs do nothing
    assert deferred.verify().checked == 250
    deferred.close()

    default = AuditStore.open(tmp_path / "default.db")
    _fill_wal(default)
    assert _in_the_file(tmp_path / "default.db", "filler") > 0  # copied by the commits
    assert Checkpoints(tmp_path / "default.db").run() < 1_000
    default.close()


async def test_the_running_bot_checkpoints_in_a_worker_thread(stage: Stage) -> None:
    store = stage.runtime.store
    assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    for n in range(20):
        await store.append(ANA, "marker", details={"n": n})
    for _ in range(60):  # the periodic checkpoint runs every second
        if _in_the_file(stage.settings.audit_db, "marker") == 20:
            break
        await asyncio.sleep(0.1)
    assert _in_the_file(stage.settings.audit_db, "marker") == 20
