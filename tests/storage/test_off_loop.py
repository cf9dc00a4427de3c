"""Writes and reads off the event loop (AuditStore.off_loop, read_off_loop), and the queries
a large request asks after every written batch."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from bot.actors import SYSTEM, Actor
from bot.sat.refs import InvoiceRef
from bot.workflow.transitions import approve, create_cancel_request
from storage import queries
from storage.domain import NewInvoice
from storage.errors import StaleState, WriteTimeout
from storage.states import FINAL_INVOICE
from storage.states import InvoiceStatus as IS
from storage.states import RequestStatus as RS
from storage.store import AuditStore
from storage.tx import Tx

ANA = Actor("U0ANA", "Ana")


def _request(tx: Tx, count: int, serie: str = "A") -> int:
    return tx.create_request(kind="cancel", requester=ANA, reason="02",
                             justification="duplicada",
                             invoices=[NewInvoice(ref_key=f"{serie}-{n}") for n in range(count)])


def _count(store: AuditStore, request_id: int) -> int:
    return int(store.db.execute("SELECT count(*) FROM invoices WHERE request_id = ?",
                                [request_id]).fetchone()[0])


async def test_an_off_loop_write_lets_the_loop_run_and_its_writers_wait(tmp_path: Path) -> None:
    store = AuditStore.open(tmp_path / "audit.db")
    inside, go_on = threading.Event(), threading.Event()

    def slow_creation(tx: Tx) -> int:
        request_id = _request(tx, 3)
        inside.set()
        assert go_on.wait(5)  # held open until the loop has shown it still runs
        return request_id

    writing = asyncio.create_task(store.write_off_loop(slow_creation))
    while not inside.is_set():
        await asyncio.sleep(0.005)
    # The loop runs: its readers see the last commit, never half of this one ...
    assert store.db["requests"].count == 0
    # ... and its writers wait for the lock (not an error, not a block of the loop).
    appended = asyncio.create_task(store.append(SYSTEM, "note", details={"n": 1}))
    await asyncio.sleep(0.1)
    assert not appended.done()
    go_on.set()
    request_id = await writing
    await appended
    assert store.db["invoices"].count == 3
    assert [e["action"] for e in store.db.query("SELECT action FROM events ORDER BY id")][-1] \
        == "note"
    assert store.verify().ok and _count(store, request_id) == 3
    store.close()


async def test_an_off_loop_write_that_fails_writes_nothing(tmp_path: Path) -> None:
    store = AuditStore.open(tmp_path / "audit.db")

    def half(tx: Tx) -> None:
        _request(tx, 5)
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        await store.write_off_loop(half)
    assert store.db["requests"].count == 0 and store.db["events"].count == 0
    # The connection is left usable: the next write goes through.
    assert await store.write_off_loop(lambda tx: _request(tx, 1)) == 1
    assert store.verify().ok
    store.close()


async def test_a_read_off_loop_sees_what_the_loop_committed(tmp_path: Path) -> None:
    store = AuditStore.open(tmp_path / "audit.db")
    async with store.writing() as tx:
        request_id = _request(tx, 250)  # more than a page (ASIDE_PAGE)
    rows = await store.read_off_loop("SELECT ref_key FROM invoices WHERE request_id = ? "
                                     "ORDER BY position", [request_id])
    assert [r["ref_key"] for r in rows] == [f"A-{n}" for n in range(250)]
    store.close()


async def test_an_approval_written_off_the_loop_keeps_every_rule(tmp_path: Path) -> None:
    """A large request's approval is written in a worker thread: one person still decides
    once, and a request already approved refuses the next click."""
    store = AuditStore.open(tmp_path / "audit.db")
    request_id = await create_cancel_request(
        store, ANA, [InvoiceRef(uuid=f"{n:08d}-0000-4000-8000-000000000000") for n in range(3)],
        reason="02", justification="duplicada", off_loop=True)
    beto, carla = Actor("U0BETO", "Beto"), Actor("U0CARLA", "Carla")
    assert await approve(store, request_id, beto, required=2, off_loop=True) is False
    with pytest.raises(sqlite3.IntegrityError):
        await approve(store, request_id, beto, required=2, off_loop=True)
    assert await approve(store, request_id, carla, required=2, off_loop=True) is True
    with pytest.raises(StaleState):
        await approve(store, request_id, Actor("U0DAN", "Dan"), required=2, off_loop=True)
    assert queries.get_request(store, request_id)["status"] == RS.APPROVED
    facts = json.loads(store.db.execute(
        "SELECT details FROM events WHERE action = 'decision_approve' ORDER BY id LIMIT 1"
    ).fetchone()[0])["facts"]
    assert [f["ref"] for f in facts] == [f"{n:08d}-0000-4000-8000-000000000000"
                                         for n in range(3)]
    assert store.verify().ok
    store.close()


async def test_an_in_memory_store_writes_on_the_loop(tmp_path: Path) -> None:
    store = AuditStore.open(":memory:")
    thread = await store.write_off_loop(lambda tx: (_request(tx, 1), threading.get_ident())[1])
    assert thread == threading.get_ident()
    assert await store.read_off_loop("SELECT count(*) AS n FROM invoices") == [{"n": 1}]


def test_all_invoices_final_is_asked_by_index_whatever_is_already_final(
        tmp_path: Path) -> None:
    store = AuditStore.open(tmp_path / "audit.db")
    with store.transaction() as tx:
        request_id = _request(tx, 3)
        for status in (RS.APPROVED, RS.SUBMITTING, RS.SUBMITTED):
            tx.transition("request", request_id, status, SYSTEM)
        ids = [row["id"] for row in tx.request_invoices(request_id)]
        assert not tx.all_invoices_in(request_id, FINAL_INVOICE)
        tx.transition("invoice", ids[0], IS.CANCELED, SYSTEM)
        tx.transition("invoice", ids[1], IS.PENDING, SYSTEM)
        assert not tx.all_invoices_in(request_id, FINAL_INVOICE)
        tx.transition("invoice", ids[2], IS.CANCELED, SYSTEM)
        tx.transition("invoice", ids[1], IS.DENIED, SYSTEM)
        assert tx.all_invoices_in(request_id, FINAL_INVOICE)
    plan = " ".join(str(row) for row in store.db.execute(
        "EXPLAIN QUERY PLAN SELECT 1 FROM invoices WHERE request_id = ? AND status IN (?, ?)"
        " LIMIT 1", [request_id, "pending", "requested"]))
    assert "invoices_by_request_status" in plan
    store.close()


def test_acuses_owed_are_found_from_the_digests_alone(tmp_path: Path) -> None:
    store = AuditStore.open(tmp_path / "audit.db")
    plan = " ".join(str(row) for row in store.db.execute(
        "EXPLAIN QUERY PLAN SELECT id, acuse_digest, min(position) AS first FROM invoices"
        " WHERE request_id = ? AND acuse_digest IS NOT NULL GROUP BY acuse_digest"
        " ORDER BY first", [1]))
    assert "COVERING INDEX invoices_acuses" in plan
    store.close()


async def test_the_loop_ticks_while_a_large_creation_is_written(tmp_path: Path) -> None:
    """5,000 invoices written off the loop: the loop is never held the whole time."""
    store = AuditStore.open(tmp_path / "audit.db")
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    begun = time.perf_counter()
    await store.write_off_loop(lambda tx: _request(tx, 5_000))
    took = time.perf_counter() - begun
    ticking.cancel()
    assert store.db["invoices"].count == 5_000
    # The loop kept turning while the write ran (written on the loop: once or twice).
    assert len(gaps) > 20, (len(gaps), took)
    store.close()


async def test_what_the_main_connection_may_not_write_neither_may_the_other(
        tmp_path: Path) -> None:
    """An off-loop write follows the main connection's limits at each use (read-only, a
    size cap): a store made read-only refuses it too, and takes it once writable again."""
    store = AuditStore.open(tmp_path / "audit.db")
    await store.write_off_loop(lambda tx: _request(tx, 1))  # the other connection is open
    store.db.conn.execute("PRAGMA query_only = ON")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await store.write_off_loop(lambda tx: _request(tx, 1, "B"))
    store.db.conn.execute("PRAGMA query_only = OFF")
    await store.write_off_loop(lambda tx: _request(tx, 1, "B"))
    assert store.db["requests"].count == 2 and store.verify().ok
    store.close()


async def test_closing_waits_for_an_off_loop_write_in_progress(tmp_path: Path) -> None:
    """A stop cancels the task that awaited the write, not its thread: the store closes once
    that write has committed, never under it."""
    store = AuditStore.open(tmp_path / "audit.db")
    inside = threading.Event()

    def slow(tx: Tx) -> int:
        inside.set()
        time.sleep(0.2)
        return _request(tx, 2)

    writing = asyncio.create_task(store.write_off_loop(slow))
    while not inside.is_set():
        await asyncio.sleep(0.005)
    writing.cancel()
    await asyncio.to_thread(store.close)
    again = AuditStore.open(tmp_path / "audit.db")
    assert again.db["invoices"].count == 2 and again.verify().ok
    again.close()


async def test_an_off_loop_write_waits_no_longer_than_its_bound(tmp_path: Path) -> None:
    """Behind another off-loop write that holds on: WriteTimeout at its own bound (as the
    loop's writers), nothing written; the write it waited behind goes through."""
    store = AuditStore.open(tmp_path / "audit.db")
    inside, go_on = threading.Event(), threading.Event()

    def held(tx: Tx) -> int:
        inside.set()
        assert go_on.wait(5)
        return _request(tx, 1)

    first = asyncio.create_task(store.write_off_loop(held))
    while not inside.is_set():
        await asyncio.sleep(0.005)
    with pytest.raises(WriteTimeout):
        await store.write_off_loop(lambda tx: _request(tx, 1, "B"), within_s=0.1)
    # A read is not queued behind the write: it has a connection of its own.
    assert await asyncio.wait_for(store.read_off_loop("SELECT count(*) AS n FROM requests"),
                                  2) == [{"n": 0}]
    go_on.set()
    await first
    assert store.db["requests"].count == 1 and store.verify().ok
    store.close()
