"""`python -m bot audit verify|export` and `python -m bot demo`, run as a person would."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.actors import Actor
from storage import meta
from storage.domain import NewInvoice
from storage.store import AuditStore


def bot(*args: str, db: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "AUDIT_DB": str(db), **env}
    return subprocess.run([sys.executable, "-m", "bot", *args], env=environ, cwd=db.parent,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    store = AuditStore.open(path)
    evil = Actor("U0EVIL", "=HYPERLINK(\"http://x\",\"clic\")")
    for requester, refs in ((Actor("U0ANA", "Ana"), ["A-1"]), (evil, ["@SUM(1)", "-2+3"])):
        with store.transaction() as tx:
            tx.create_request(kind="cancel", requester=requester, reason="02",
                              justification="\tTAB", invoices=[NewInvoice(r) for r in refs])
    store.record(evil, "+cmd", invoice_ref="\rCR")
    store.close()
    return path


def test_verify_counts_and_exits_zero_on_an_intact_chain(db: Path) -> None:
    done = bot("audit", "verify", db=db)
    assert done.returncode == 0, done.stderr
    assert "OK: 3 events checked" in done.stdout


def test_verify_names_the_first_bad_event_and_exits_one(db: Path) -> None:
    store = AuditStore.open(db)
    store.db.execute("DROP TRIGGER events_no_update")
    store.db.execute("UPDATE events SET actor_name = 'Mallory' WHERE id = 2")
    store.close()
    done = bot("audit", "verify", db=db)
    assert done.returncode == 1
    assert "BROKEN: event 2 does not match" in done.stdout
    assert "1 events before it are intact" in done.stdout


def test_verify_on_a_missing_file_says_so(tmp_path: Path) -> None:
    done = bot("audit", "verify", db=tmp_path / "none.db")
    assert done.returncode == 1 and "no audit database" in done.stderr
    assert not (tmp_path / "none.db").exists()


def test_csv_export_neutralises_formula_cells(db: Path) -> None:
    out = db.parent / "out.csv"
    done = bot("audit", "export", "--format", "csv", "--output", str(out), db=db)
    assert done.returncode == 0, done.stderr
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert rows[1]["actor_name"] == "'=HYPERLINK(\"http://x\",\"clic\")"
    assert rows[2]["action"] == "'+cmd"
    assert rows[2]["invoice_ref"] == "'\rCR"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_jsonl_export_filters_by_requester_and_dates_to_a_file(db: Path) -> None:
    out = db.parent / "out.jsonl"
    done = bot("audit", "export", "--format", "jsonl", "--requester", "U0EVIL",
               "--output", str(out), db=db)
    assert done.returncode == 0 and "1 events written" in done.stderr
    (event,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert event["details"]["invoices"] == ["@SUM(1)", "-2+3"]  # JSON keeps the raw text
    everything = bot("audit", "export", "--format", "jsonl", "--since", "2000-01-01",
                     "--until", "2999-12-31", db=db)
    assert len(everything.stdout.splitlines()) == 3
    nothing = bot("audit", "export", "--format", "jsonl", "--until", "2000-01-01", db=db)
    assert nothing.stdout == ""


def test_the_demo_cancels_the_seed_uuids_and_prints_a_verified_trail(tmp_path: Path) -> None:
    done = bot("demo", "--db", str(tmp_path / "demo.db"), db=tmp_path / "demo.db",
               LANGUAGE="en")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "SANDBOX" in out
    assert "▶ ana.lopez types: /cfdi cancelar E329DD15" in out
    assert "[form “Cancel invoices”]" in out
    assert "[#aprobaciones-cfdi]" in out and "[Approve]  [Reject]" in out
    assert "`E329DD15-7D0B-44E9-A204-51A7443D1FBE` — *Not cancellable*" in out
    assert "`C5E58106-6C1E-41C9-A211-FB8BAD1CABB0` — *Pending*" in out
    assert "`9D8C7B6A-5E4F-4A3B-F213-1C2D3E4F5A6B` — *Denied by the receiver*" in out
    assert "— *Cancelled*: the receiver accepted the cancellation; the SAT shows it " \
        "cancelled" in out
    # "Cancelled" waits for the SAT's word (the stand-in's books lag the provider's).
    assert "— *Cancelled per the provider; SAT confirmation pending*: the SAT still shows " \
        "it valid" in out
    assert "file acuse-solicitud-1.xml" in out
    assert "Result of e-mail #3 to cuentasporpagar@cliente.example" in out and "— *Sent*" in out
    assert "— *Pending*: received by the SAT, confirming" in out
    assert "Audit chain intact" in out
    assert "Traceback" not in done.stderr
    # The banner once, each card in full once (an update shows what changed).
    assert out.count("SANDBOX") == 1
    assert out.count("*Requester*: @ana.lopez") == 5 and "*Status*: Submitted" in out
    # A month-end list as a file: a bad row comes back by DM, then it is recorded.
    assert "Row 3: “FAC -2002” has a negative folio" in out
    assert "[direct message to @ana.lopez] file cierre-octubre-errors.csv" in out
    assert "✅ Request #6 recorded with 4 invoice(s), 4 from the list “cierre-octubre.csv”" \
        in out
    assert "`5A6B7C8D-1E2F-4A3B-8C21-9D0E1F2A3B4C` · reason 01, replaced by `" in out
    # A mistyped folio, said on its line; a rejection; `/cfdi status`; the App Home.
    assert "✗ Invoices: Line 1: folio “10O1” is not a number." in out
    assert "⛔ @ana.lopez, @beto.ruiz rejected the request: FAC 1001" in out
    assert "Request #2 (cancellation) — Rejected — invoice: *Not sent to the provider*" in out
    assert "[CFDI Bot's Home tab, as @beto.ruiz sees it]" in out
    assert "*#2* cancellation by @ana.lopez" in out
    # The audit trail in words; a send without approval says so.
    trail = out[out.index("Audit trail"):]
    assert "ana.lopez  created request #1" in trail and "request_created" not in trail
    assert "CFDI Bot   the request needs no approval: straight to the provider" in trail
    assert "{\"approvals\": 0}" not in trail and "request_approved" not in trail
    # A stand-in approves in the approver's place; a request is withdrawn (issue 22).
    assert "✅ @diego.mora (in place of @beto.ruiz) approved." in out
    assert "↩️ Withdrawn by @ana.lopez" in out and "*Status*: Withdrawn" in out
    assert "diego.mora (in place of beto.ruiz) approved" in trail
    assert "beto.ruiz  ended their delegation" in trail
    verify = bot("audit", "verify", db=tmp_path / "demo.db")
    assert verify.returncode == 0


def test_the_demo_can_be_run_again(tmp_path: Path) -> None:
    """Without --db: a fresh data/demo.db each run. With --db: kept, so a second run over
    the same file explains the refusal."""
    env = {k: v for k, v in os.environ.items() if k != "AUDIT_DB"}
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "bot", "demo"], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    again = bot("demo", "--db", str(tmp_path / "data" / "demo.db"), db=tmp_path / "x.db",
                LANGUAGE="en")
    assert again.returncode == 1
    assert "already holds these invoices from an earlier demo" in again.stdout
    assert "Traceback" not in again.stderr


def test_the_demo_never_writes_into_audit_db(tmp_path: Path) -> None:
    """AUDIT_DB (the real log) is ignored by the demo, which says so once."""
    real = tmp_path / "prod.db"
    done = bot("demo", db=real, LANGUAGE="en")
    assert done.returncode == 0, done.stderr[-2000:]
    assert not real.exists()
    assert done.stderr.count("The demo does not use AUDIT_DB") == 1
    assert (tmp_path / "data" / "demo.db").exists()
    assert "Audit trail (data/demo.db)" in done.stdout


def test_the_demo_refuses_a_file_of_the_real_provider(tmp_path: Path) -> None:
    real = tmp_path / "prod.db"
    store = AuditStore.open(real)
    meta.record_owner(store.db, meta.Owner(meta.PROVIDER, "https://pac.example/CFDI33"),
                      store.now())
    store.close()
    done = bot("demo", "--db", str(real), db=real, LANGUAGE="en")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"{real} holds requests sent to the real provider at https://pac.example/CFDI33: a "
        "sandbox rehearsal needs a file of its own; set AUDIT_DB to another path, for example "
        "data/sandbox.db."]
