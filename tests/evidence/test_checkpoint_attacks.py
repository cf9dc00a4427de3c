"""The attacks an auditor worries about, each made on a real audit file written by the demo,
by someone who can write the file: the triggers dropped, events deleted or changed, and every
hash after them recomputed by the script below (which knows the chain's formula). Plain
`audit verify` passes each rewritten file; `audit verify --checkpoints` catches every attack
with a sentence naming the first event or checkpoint that disagrees.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.actors import Actor
from bot.evidence import keys
from bot.evidence.note import Checkpoint, SignedCheckpoint, SigningKey
from bot.evidence.publishing import Publisher, read_file
from bot.evidence.signing import Signer
from storage.store import AuditStore
from tests.helpers import clean_env

ORIGIN = "cfdi-bot/simulated-provider"
ROUNDS = 3   # checkpoints signed after the demo's own, each after a few more events


@dataclass(frozen=True)
class Evidence:
    """An audit file with its checkpoints file and key, as the demo leaves them."""

    db: Path
    checkpoints: Path
    key: Path
    public: str      # the public key, as the auditor kept it (printed by the demo)


def bot(*args: str, db: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args],
                          env=clean_env(AUDIT_DB=str(db), **env), cwd=db.parent,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Evidence:
    """The demo's file, key and checkpoints file, then ROUNDS more checkpoints."""
    folder = tmp_path_factory.mktemp("demo")
    db = folder / "demo.db"
    done = bot("demo", "--db", str(db), db=db)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    public = re.search(r"public key (\S+):", done.stdout)
    assert public is not None, done.stdout[-1500:]
    key = keys.load(db.with_suffix(".key"), ORIGIN, "en")
    store = AuditStore.open(db)
    for round_ in range(ROUNDS):
        for number in range(4):
            store.record(Actor("U0ANA", "ana.lopez"), "note", details={"n": [round_, number]})
        asyncio.run(Signer(store, key).sign(force=True))
        asyncio.run(Publisher(store, db.with_suffix(".checkpoints")).publish())
    store.close()
    return Evidence(db, db.with_suffix(".checkpoints"), db.with_suffix(".key"), public[1])


@pytest.fixture
def copy(made: Evidence, tmp_path: Path) -> Evidence:
    """A copy of the evidence to attack."""
    for path in (made.db, made.checkpoints, made.key):
        shutil.copy2(path, tmp_path / path.name)
    return Evidence(tmp_path / made.db.name, tmp_path / made.checkpoints.name,
                    tmp_path / made.key.name, made.public)


def verify(evidence: Evidence, *extra: str) -> subprocess.CompletedProcess[str]:
    return bot("audit", "verify", "--checkpoints", str(evidence.checkpoints),
               "--public-key", evidence.public, *extra, db=evidence.db)


# -- the attacker's script: it knows the chain's formula (storage/chain.py) ---------------

FIELDS = ("id", "at", "actor_id", "actor_name", "action", "request_id", "invoice_ref",
          "details")


def formula(event: dict[str, object], prev_hash: str) -> str:
    body = {name: event[name] for name in FIELDS}
    body["details"] = json.loads(str(body["details"]))
    body["prev_hash"] = prev_hash
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Attacker:
    """Someone who can write the audit file."""

    conn: sqlite3.Connection

    def rows(self) -> Iterator[dict[str, object]]:
        cursor = self.conn.execute(f"SELECT {', '.join(FIELDS)} FROM events ORDER BY id")
        names = [c[0] for c in cursor.description]
        for values in cursor.fetchall():
            yield dict(zip(names, values, strict=True))

    def save(self) -> None:
        """What was done so far, committed (the next change starts a new transaction)."""
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")

    def rechain(self) -> None:
        """Every hash recomputed, oldest first: the chain verifies again."""
        prev = "0" * 64
        for event in self.rows():
            digest = formula(event, prev)
            self.conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE id = ?",
                              (prev, digest, event["id"]))
            prev = digest

    def renumber(self) -> None:
        """Ids made consecutive again after a deletion."""
        for new_id, event in enumerate(self.rows(), start=1):
            if event["id"] != new_id:
                self.conn.execute("UPDATE events SET id = ? WHERE id = ?", (new_id, event["id"]))


@pytest.fixture
def attacker(copy: Evidence) -> Iterator[Attacker]:
    conn = sqlite3.connect(copy.db, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("DROP TRIGGER events_no_delete")
    conn.execute("BEGIN")
    yield Attacker(conn)
    conn.execute("COMMIT")
    conn.close()


def checkpoint_events(db: Path) -> list[tuple[int, int]]:
    """(event id, size) of every recorded checkpoint."""
    with sqlite3.connect(db) as conn:
        return [(i, json.loads(d)["size"]) for i, d in conn.execute(
            "SELECT id, details FROM events WHERE action = 'audit_checkpoint' ORDER BY id")]


def plain_verify_passes(evidence: Evidence) -> None:
    done = bot("audit", "verify", db=evidence.db)
    assert done.returncode == 0 and "OK:" in done.stdout, done.stdout + done.stderr
    assert "check it against them with `--checkpoints" in done.stdout


def broken(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("BROKEN: ")]
    return line.removeprefix("BROKEN: ")


# -- the tests ----------------------------------------------------------------------------

def test_an_untouched_log_matches_every_checkpoint(copy: Evidence) -> None:
    done = verify(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"matches {ROUNDS + 1} checkpoint(s) of {copy.checkpoints}" in done.stdout
    assert len(read_file(copy.checkpoints)) == ROUNDS + 1


def test_a_truncated_tail(copy: Evidence, attacker: Attacker) -> None:
    """The newest events, the last checkpoint's record among them, deleted: the shorter
    chain is valid, but the last checkpoint names more events than the log holds."""
    last_size = checkpoint_events(copy.db)[-1][1]
    keep = last_size - 2
    attacker.conn.execute("DELETE FROM events WHERE id > ?", (keep,))
    attacker.save()
    plain_verify_passes(copy)
    assert broken(verify(copy)) == (
        f"{copy.checkpoints.name} #{ROUNDS + 1} (signed {signed_at(copy, -1)}) says the log "
        f"had {last_size} events; it has {keep}: events {keep + 1} to {last_size} were "
        "deleted.")


def test_only_the_last_checkpoint_s_own_record_deleted(copy: Evidence,
                                                       attacker: Attacker) -> None:
    (last_event, last_size) = checkpoint_events(copy.db)[-1]
    attacker.conn.execute("DELETE FROM events WHERE id >= ?", (last_event,))
    attacker.save()
    plain_verify_passes(copy)
    assert broken(verify(copy)) == (
        f"{copy.checkpoints.name} #{ROUNDS + 1} (signed {signed_at(copy, -1)}, {last_size} "
        f"events) is not recorded in the log as event {last_event}: that event was deleted "
        "or changed.")


def test_a_rewritten_event_with_every_hash_recomputed(copy: Evidence,
                                                      attacker: Attacker) -> None:
    """Who approved the cancellation, changed; the chain recomputed after it."""
    (approval,) = attacker.conn.execute(
        "SELECT id FROM events WHERE action = 'decision_approve'").fetchone()
    attacker.conn.execute("UPDATE events SET actor_name = 'mallory' WHERE id = ?", (approval,))
    attacker.rechain()
    attacker.save()
    plain_verify_passes(copy)
    first_size = checkpoint_events(copy.db)[0][1]
    assert approval <= first_size
    assert broken(verify(copy)) == (
        f"Event {first_size} does not match {copy.checkpoints.name} #1 (signed "
        f"{signed_at(copy, 0)}): an event from 1 to {first_size} was changed, or events were "
        "deleted or inserted there and the hashes recomputed.")


def test_a_deleted_and_rechained_middle(copy: Evidence, attacker: Attacker) -> None:
    """An event between the first two checkpoints deleted, the ids made consecutive again
    and every hash recomputed: the second checkpoint's head no longer matches."""
    (_, first), (_, second) = checkpoint_events(copy.db)[:2]
    victim = first + 2
    attacker.conn.execute("DELETE FROM events WHERE id = ?", (victim,))
    attacker.renumber()
    attacker.rechain()
    attacker.save()
    plain_verify_passes(copy)
    assert broken(verify(copy)) == (
        f"Event {second} does not match {copy.checkpoints.name} #2 (signed "
        f"{signed_at(copy, 1)}): an event from {first + 1} to {second} was changed, or events "
        "were deleted or inserted there and the hashes recomputed.")


def test_a_deleted_middle_with_the_gap_left(copy: Evidence, attacker: Attacker) -> None:
    attacker.conn.execute("DELETE FROM events WHERE id = 7")
    attacker.rechain()
    attacker.save()
    plain_verify_passes(copy)
    assert broken(verify(copy)) == ("Event 7 is missing: the log goes from event 6 to event 8 "
                                    "(events were deleted).")


def test_a_checkpoint_signed_by_another_key(copy: Evidence, attacker: Attacker) -> None:
    """The attacker rewrites an event, signs every checkpoint again with a key of their own
    and replaces the file (and the public key the audit file recorded): against the public
    key the auditor kept, the first checkpoint is refused."""
    attacker.conn.execute("UPDATE events SET actor_name = 'mallory' WHERE id = 3")
    attacker.rechain()
    theirs = keys.load(_their_key(copy), ORIGIN, "en")
    forged = _resign(attacker, theirs)
    attacker.conn.execute("DROP TRIGGER meta_no_update")
    attacker.conn.execute("UPDATE meta SET value = ? WHERE key = 'signing_key'",
                          (theirs.public.text(),))
    attacker.save()
    copy.checkpoints.write_text("".join(note + "\n" for note in forged), encoding="utf-8")
    plain_verify_passes(copy)
    ours = copy.public.split("+")[1]
    assert broken(verify(copy)) == (
        f"{copy.checkpoints.name} #1 is refused: it is not signed by the key {ORIGIN} ({ours}) "
        f"but by {ORIGIN} ({theirs.public.id.hex()}).")
    # Trusting the key recorded in the rewritten file itself, the forgery passes: the
    # README says to keep the public key elsewhere.
    trusting = bot("audit", "verify", "--checkpoints", str(copy.checkpoints), db=copy.db)
    assert trusting.returncode == 0 and "whoever rewrote the file" in trusting.stdout


def test_a_checkpoint_missing_from_the_sequence(copy: Evidence) -> None:
    notes = [p.note for p in read_file(copy.checkpoints)]
    copy.checkpoints.write_text("".join(n + "\n" for i, n in enumerate(notes) if i != 1),
                                encoding="utf-8")
    assert broken(verify(copy)) == (
        f"A checkpoint is missing from {copy.checkpoints} before {copy.checkpoints.name} #2: "
        "it names as its previous one a checkpoint that is not there (the one before it in "
        f"{copy.checkpoints}: {copy.checkpoints.name} #1, signed {signed_at(copy, 0)}).")


def test_what_cannot_be_used_exits_two(copy: Evidence) -> None:
    missing = bot("audit", "verify", "--checkpoints", str(copy.db.parent / "none"),
                  "--public-key", copy.public, db=copy.db)
    assert missing.returncode == 2 and "cannot be read" in missing.stderr
    mangled = bot("audit", "verify", "--checkpoints", str(copy.checkpoints),
                  "--public-key", copy.public[:-3], db=copy.db)
    assert mangled.returncode == 2 and "is not a public key" in mangled.stderr


def test_an_export_with_its_checkpoints_verifies_with_nothing_else(copy: Evidence) -> None:
    out = copy.db.parent / "export.jsonl"
    done = bot("audit", "export", "--format", "jsonl", "--with-checkpoints", "--output",
               str(out), db=copy.db)
    assert done.returncode == 0, done.stderr
    elsewhere = copy.db.parent / "auditor"
    elsewhere.mkdir()
    moved = shutil.move(out, elsewhere / out.name)
    ok = bot("audit", "verify", "--export", str(moved), "--public-key", copy.public,
             db=elsewhere / "none.db")
    assert ok.returncode == 0 and f"matches {ROUNDS + 1} checkpoint(s)" in ok.stdout, ok.stdout
    assert not (elsewhere / "none.db").exists()
    lines = Path(moved).read_text(encoding="utf-8").splitlines()
    third = json.loads(lines[2])
    lines[2] = json.dumps({**third, "actor_name": "mallory"}, ensure_ascii=False)
    Path(moved).write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert "Event 3 does not match" in broken(
        bot("audit", "verify", "--export", str(moved), "--public-key", copy.public,
            db=elsewhere / "none.db"))
    partial = bot("audit", "export", "--format", "jsonl", "--with-checkpoints", "--since",
                  "2020-01-01", db=copy.db)
    assert partial.returncode == 2 and "exports the whole log" in partial.stderr


# -- helpers ------------------------------------------------------------------------------

def signed_at(evidence: Evidence, index: int) -> str:
    note = read_file(evidence.checkpoints)[index].note
    time = next(line for line in note.splitlines() if line.startswith("time "))[5:]
    return time[:19].replace("T", " ") + " UTC"


def _their_key(evidence: Evidence) -> Path:
    path = evidence.db.parent / "theirs.key"
    keys.generate(path, ORIGIN, "en")
    return path


def _resign(attacker: Attacker, key: SigningKey) -> list[str]:
    """Every checkpoint event's note signed again, over the rewritten chain, and the events
    updated to hold them (and the chain recomputed once more)."""
    notes: list[str] = []
    previous = None
    for event_id, details in attacker.conn.execute(
            "SELECT id, details FROM events WHERE action = 'audit_checkpoint' ORDER BY id"
            ).fetchall():
        old = json.loads(details)
        (head,) = attacker.conn.execute("SELECT hash FROM events WHERE id = ?",
                                        (old["size"],)).fetchone() if old["size"] else ("0" * 64,)
        time = next(line for line in old["note"].splitlines() if line.startswith("time "))[5:]
        signed = SignedCheckpoint.sign(Checkpoint(ORIGIN, old["size"], head, time, previous),
                                       key)
        attacker.conn.execute("UPDATE events SET details = ? WHERE id = ?", (json.dumps(
            {"size": old["size"], "signature": signed.signature, "note": signed.note},
            sort_keys=True, separators=(",", ":"), ensure_ascii=False), event_id))
        attacker.rechain()
        notes.append(signed.note)
        previous = signed.signature
    return notes


def test_the_fixture_s_key_file_is_private(made: Evidence) -> None:
    assert os.stat(made.key).st_mode & 0o077 == 0


def test_a_backup_carries_its_checkpoints_and_verifies_against_them(copy: Evidence) -> None:
    target = copy.db.parent / "backups"
    target.mkdir()
    done = bot("audit", "backup", str(target / "copy.db"), db=copy.db)
    assert done.returncode == 0, done.stderr
    kept = target / "copy.checkpoints"
    assert f"The checkpoints file copied to {kept}." in done.stdout
    assert kept.read_bytes() == copy.checkpoints.read_bytes()
    assert os.stat(kept).st_mode & 0o077 == 0
    verified = bot("audit", "verify", "--checkpoints", str(kept), "--public-key", copy.public,
                   db=target / "copy.db")
    assert verified.returncode == 0, verified.stdout + verified.stderr
