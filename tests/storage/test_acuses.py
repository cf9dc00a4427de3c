"""Which acuses a request's thread owes: each distinct one once, found by its digest."""

from __future__ import annotations

from pathlib import Path

from bot.actors import SYSTEM, Actor
from storage.domain import NewInvoice
from storage.states import InvoiceStatus as IS
from storage.states import RequestStatus as RS
from storage.store import AuditStore

ANA = Actor("U0ANA", "Ana")


def _submitted(store: AuditStore, count: int) -> tuple[int, list[int]]:
    with store.transaction() as tx:
        request_id = tx.create_request(kind="cancel", requester=ANA, reason="02",
                                       justification="duplicada",
                                       invoices=[NewInvoice(ref_key=f"A-{n}")
                                                 for n in range(count)])
        for status in (RS.APPROVED, RS.SUBMITTING, RS.SUBMITTED):
            tx.transition("request", request_id, status, SYSTEM)
        ids = [row["id"] for row in tx.request_invoices(request_id)]
    return request_id, ids


def test_a_batch_acuse_shared_by_many_invoices_is_owed_once_named_by_the_first(
        tmp_path: Path) -> None:
    store = AuditStore.open(tmp_path / "audit.db")
    request_id, ids = _submitted(store, 6)
    with store.transaction() as tx:
        for n, invoice_id in enumerate(ids):  # two batch calls: two acuses, three each
            tx.transition("invoice", invoice_id, IS.CANCELED, SYSTEM,
                          fields={"acuse": f"<Acuse lote='{n // 3}'/>"})
        owed = tx.owe_acuses(request_id)
        assert tx.owe_acuses(request_id) == []  # owed already
    rows = list(store.db.query("SELECT invoice_id, filename FROM uploads ORDER BY id"))
    assert len(owed) == 2
    assert rows == [{"invoice_id": ids[0], "filename": f"acuse-solicitud-{request_id}-1.xml"},
                    {"invoice_id": ids[3], "filename": f"acuse-solicitud-{request_id}-2.xml"}]


def test_an_acuse_written_before_its_digest_was_kept_is_still_owed(tmp_path: Path) -> None:
    """A file from before migration v18 has acuses without digests: hashed when needed."""
    store = AuditStore.open(tmp_path / "audit.db")
    request_id, ids = _submitted(store, 2)
    with store.transaction() as tx:
        tx.transition("invoice", ids[0], IS.CANCELED, SYSTEM, fields={"acuse": "<Acuse/>"})
    store.db.execute("UPDATE invoices SET acuse = '<Acuse/>', acuse_digest = NULL")
    store.db.conn.commit()
    with store.transaction() as tx:
        assert len(tx.owe_acuses(request_id)) == 1
        assert tx.owe_acuses(request_id) == []
    assert store.db.execute("SELECT count(*) FROM invoices WHERE acuse_digest IS NULL"
                            ).fetchone()[0] == 0
