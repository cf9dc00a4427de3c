"""The versioned schema. Each migration moves the file one version up; `PRAGMA user_version`
holds the version. Migrations only add: an older file is upgraded, never wiped.

Why this module is long: every migration stays, in order, so that any older file is
upgraded through each of them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

from storage.states import OPEN_OR_DONE, RequestStatus

V1_TABLES = """
CREATE TABLE requests (
    id                 INTEGER PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('cancel', 'send')),
    requester_id       TEXT NOT NULL,
    requester_name     TEXT NOT NULL,
    source_channel     TEXT,
    reason             TEXT CHECK (reason IS NULL OR reason IN ('01', '02', '03', '04')),
    replacement_uuid   TEXT,
    justification      TEXT,
    recipients         TEXT,          -- JSON list of e-mail addresses (sends)
    approvals_required INTEGER NOT NULL DEFAULT 1,
    approvals_channel  TEXT,
    thread_ts          TEXT,          -- the request card: root of the approval thread
    status             TEXT NOT NULL,
    created_at         TEXT NOT NULL, -- UTC, ISO 8601, fixed width: sorts as text
    updated_at         TEXT NOT NULL
);

CREATE TABLE invoices (
    id             INTEGER PRIMARY KEY,
    request_id     INTEGER NOT NULL REFERENCES requests(id),
    position       INTEGER NOT NULL,  -- order as the requester typed them
    ref_key        TEXT NOT NULL,     -- the UUID, or SERIE-FOLIO
    uuid           TEXT,
    serie          TEXT,
    folio          INTEGER,
    status         TEXT NOT NULL,
    code           TEXT,              -- provider code the status was read from
    detalle        TEXT,              -- the provider's words
    estatus_uuid   TEXT,              -- the SAT's EstatusUUID
    acuse          TEXT,              -- the SAT acknowledgment XML, decoded
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_check_at  TEXT,              -- when the watcher asks again (pending only)
    pending_since  TEXT,
    updated_at     TEXT NOT NULL,
    UNIQUE (request_id, position)
);

CREATE TABLE approvals (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL REFERENCES requests(id),
    user_id     TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    reason      TEXT,
    decided_at  TEXT NOT NULL,
    UNIQUE (request_id, user_id)
);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    request_id  INTEGER,
    invoice_ref TEXT,
    details     TEXT NOT NULL,        -- canonical JSON
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE
);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE refused'); END;
"""

# One index per query the bot runs (storage/queries.py names which).
V2_INDEXES = """
CREATE INDEX IF NOT EXISTS invoices_by_uuid ON invoices (uuid);
CREATE INDEX IF NOT EXISTS invoices_by_serie_folio ON invoices (serie, folio);
CREATE INDEX IF NOT EXISTS invoices_by_ref ON invoices (ref_key, status);
CREATE INDEX IF NOT EXISTS invoices_due ON invoices (status, next_check_at);
CREATE INDEX IF NOT EXISTS invoices_by_request ON invoices (request_id, position);
CREATE INDEX IF NOT EXISTS requests_by_requester ON requests (requester_id, created_at);
CREATE INDEX IF NOT EXISTS requests_by_status ON requests (status, created_at);
CREATE INDEX IF NOT EXISTS approvals_by_request ON approvals (request_id);
CREATE INDEX IF NOT EXISTS events_by_request ON events (request_id, id);
CREATE INDEX IF NOT EXISTS events_by_at ON events (at);
"""


# The Slack side: the delivery (a view submission's id) that created a request, so that a
# retried delivery creates nothing twice; and the people to notify besides the requester.
V3_SLACK = """
ALTER TABLE requests ADD COLUMN client_key TEXT;
ALTER TABLE requests ADD COLUMN notify TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS requests_by_client_key ON requests (client_key);
"""

# The outbox: a thread reply is written in the same transaction as the transition that calls
# for it, then posted and marked with its Slack ts, so a crash can neither lose nor double it.
# And when an invoice pending too long was last reported to the operators.
V4_OUTBOX = """
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    request_id   INTEGER NOT NULL REFERENCES requests(id),
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,      -- JSON: the facts of the moment, to render the reply
    created_at   TEXT NOT NULL,
    attempted_at TEXT,               -- set just before posting: a crash after it means "maybe"
    posted_ts    TEXT,               -- the reply's Slack ts once posted
    posted_at    TEXT
);
CREATE INDEX IF NOT EXISTS outbox_unposted ON outbox (id) WHERE posted_ts IS NULL;
ALTER TABLE invoices ADD COLUMN alerted_at TEXT;
"""

# Sends: the subject, message and PDF choice the requester gave (recipients have a column).
V5_SEND_OPTIONS = """
ALTER TABLE requests ADD COLUMN send_options TEXT;
"""

# What the thread still owes besides replies. The card: every change it shows bumps
# `card_version`; `card_shown` is the version Slack last accepted, so a refused chat.update
# stays owed until a later flush brings the card up to date. The acuse uploads: owed in the
# transaction that marks the outcomes reply posted, marked with Slack's file id once shared.
V7_CARD_AND_UPLOADS = """
ALTER TABLE requests ADD COLUMN card_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN card_shown INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS requests_card_owed ON requests (id) WHERE card_shown < card_version;
CREATE TABLE uploads (
    id           INTEGER PRIMARY KEY,
    request_id   INTEGER NOT NULL REFERENCES requests(id),
    invoice_id   INTEGER NOT NULL REFERENCES invoices(id),  -- whose acuse column is the file
    digest       TEXT NOT NULL,      -- sha256 of the acuse: the same document is owed once
    filename     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    attempted_at TEXT,               -- set just before uploading: a crash after it means "maybe"
    file_id      TEXT,               -- Slack's file id once shared in the thread
    uploaded_at  TEXT,
    UNIQUE (request_id, digest),
    UNIQUE (request_id, filename)
);
CREATE INDEX IF NOT EXISTS uploads_owed ON uploads (id) WHERE file_id IS NULL;
"""

# What the invoice is (from its XML) and what the SAT says of it, looked up after the card
# was posted: JSON (see bot/workflow/facts.py), shown on the card; each lookup is also an event.
V8_FACTS = """
ALTER TABLE invoices ADD COLUMN facts TEXT;
"""


# What the file belongs to, written once (at its first start): the sandbox or a real provider,
# and which address, so that rehearsals and real requests never share a file.
V9_META = """
CREATE TABLE meta (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL,
    set_at  TEXT NOT NULL
);
CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta
BEGIN SELECT RAISE(ABORT, 'meta is written once: UPDATE refused'); END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta
BEGIN SELECT RAISE(ABORT, 'meta is written once: DELETE refused'); END;
"""

# Which APPROVAL_RULES rule sets a cancellation's approvals, on what amount (JSON, see
# bot/workflow/permissions.py AmountRule); NULL without rules.
V10_APPROVAL_RULE = """
ALTER TABLE requests ADD COLUMN approval_rule TEXT;
"""

# v11 (issue 15, after submission): the SAT's word on what the bot did. How often the SAT
# was asked to confirm a cancellation the provider reported (its backoff), when the daily
# reconciliation last asked the SAT about the invoice (least recently asked first), and the
# disagreement last told to the operators (each one told once).
V11_SAT_WATCH = """
ALTER TABLE invoices ADD COLUMN sat_asks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN sat_checked_at TEXT;
ALTER TABLE invoices ADD COLUMN sat_disagreement TEXT;
CREATE INDEX IF NOT EXISTS invoices_by_sat_check ON invoices (sat_checked_at);
"""

# v12 (issue 23, signed checkpoints): where each checkpoint's copies went. A checkpoint is an
# `audit_checkpoint` event; its row here is written in the same transaction, then marked when
# the checkpoints file holds it and when Slack keeps it (its ts), so a copy that failed is
# made at the next run. The index finds the checkpoints among the events.
V12_CHECKPOINT_COPIES = """
CREATE TABLE checkpoint_copies (
    event_id   INTEGER PRIMARY KEY REFERENCES events(id),
    filed_at   TEXT,                -- appended to the checkpoints file
    slack_ts   TEXT,                -- posted to AUDIT_CHANNEL (or ADMIN_CHANNEL)
    posted_at  TEXT
);
CREATE INDEX IF NOT EXISTS events_by_action ON events (action, id);
CREATE INDEX IF NOT EXISTS checkpoint_copies_owed ON checkpoint_copies (event_id)
    WHERE filed_at IS NULL OR slack_ts IS NULL;
"""

# v13 (issue 22, time-driven approvals): each reminder, escalation message and daily digest sent
# to a person, written before it is sent, so that a restart never sends it twice; a digest
# row with user_id '' marks the day's digest as done (once a day, even when nobody had
# anything); one Slack refused is tried again a few times (not forever: a deactivated
# person would be asked about every minute). When the request was escalated to
# ESCALATION_APPROVERS (who may then decide).
V13_REMINDERS = """
ALTER TABLE requests ADD COLUMN escalated_at TEXT;
CREATE TABLE reminders (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('first', 'last', 'escalation', 'digest')),
    request_id   INTEGER REFERENCES requests(id),  -- NULL for a digest
    day          TEXT,                             -- a digest's day (YYYY-MM-DD, TIMEZONE)
    user_id      TEXT NOT NULL,
    attempted_at TEXT NOT NULL,   -- claimed just before sending: after a crash, not resent
    sent_at      TEXT,            -- Slack accepted it
    failed_at    TEXT,            -- Slack refused it: tried again, up to `attempts` times
    attempts     INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX IF NOT EXISTS reminders_once ON reminders (request_id, user_id, kind)
    WHERE request_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS digests_once ON reminders (day, user_id)
    WHERE kind = 'digest';
"""

# v14 (issue 22, decisions): delegation and stand-ins. An approver names a stand-in until the
# end of a day (`ends_at`, UTC; `until_day` as typed, in TIMEZONE); ending it early sets
# `ended_at`. At most one open delegation per approver. An approval given by a stand-in is the
# approver's vote (`approvals.user_id`, so both voting counts once) with who gave it
# (`acted_by_id`, `acted_by_name`). Every change is also an event of the chain.
V14_DELEGATIONS = """
CREATE TABLE delegations (
    id              INTEGER PRIMARY KEY,
    delegator_id    TEXT NOT NULL,
    delegator_name  TEXT NOT NULL,
    delegate_id     TEXT NOT NULL,
    delegate_name   TEXT NOT NULL,
    until_day       TEXT NOT NULL,      -- AAAA-MM-DD as typed, a day in TIMEZONE
    ends_at         TEXT NOT NULL,      -- UTC: the end of that day
    created_at      TEXT NOT NULL,
    ended_at        TEXT,               -- ended early (/cfdi delegar fin, or replaced)
    CHECK (delegator_id != delegate_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS delegations_open ON delegations (delegator_id)
    WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS delegations_by_delegate ON delegations (delegate_id, ends_at);
ALTER TABLE approvals ADD COLUMN acted_by_id TEXT;
ALTER TABLE approvals ADD COLUMN acted_by_name TEXT;
"""

# v15 (issue 24, the controller's monthly report): the month's cancellations are read by their
# creation time; and the reports sent to REPORT_CHANNEL without asking, one row per month
# (AAAA-MM), written before posting and marked with Slack's ts once posted.
V15_MONTHLY_REPORTS = """
CREATE INDEX IF NOT EXISTS requests_by_created ON requests (kind, created_at);
CREATE TABLE monthly_reports (
    month        TEXT PRIMARY KEY,
    channel      TEXT NOT NULL,
    attempted_at TEXT NOT NULL,
    posted_ts    TEXT,
    posted_at    TEXT
);
"""

# v16 (issue 21, a reason per invoice): the SAT reason and the replacement (a UUID or SERIE-FOLIO
# key) an invoice is cancelled with when they are its own; NULL means the request's
# (`requests.reason`, and `requests.replacement_uuid` when the reason is 01).
V16_INVOICE_REASONS = """
ALTER TABLE invoices ADD COLUMN reason TEXT
    CHECK (reason IS NULL OR reason IN ('01', '02', '03', '04'));
ALTER TABLE invoices ADD COLUMN replacement TEXT;
"""

# v17 (issue 21, the output half): files a thread owes besides the acuses, the CSV lists of
# a large request and of a reply's changes. Their content is kept with the upload (what was
# shared is on record); an acuse's stays NULL (it is read from its invoice's row).
V17_UPLOAD_CONTENT = """
ALTER TABLE uploads ADD COLUMN content TEXT;
ALTER TABLE uploads ADD COLUMN title TEXT;
"""

# v18 (issue 21, others not slowed): each acuse's SHA-256 beside it, written with it. Which
# acuses a thread still owes is then a GROUP BY over short digests: reading and hashing a
# 5,000-invoice request's acuses (a few KB each) held the loop 100-170 ms per reply. Rows
# written before v18 are hashed when first needed (Tx.owe_acuses).
V18_ACUSE_DIGEST = """
ALTER TABLE invoices ADD COLUMN acuse_digest TEXT;
"""

# Whether a request's invoices are all final (Tx.all_invoices_in, asked after every written
# batch): a few index seeks for the statuses that are not, instead of a walk past every
# invoice already final (a 5,000-invoice request's later batches each walked thousands).
V19_INVOICES_BY_STATUS = """
CREATE INDEX IF NOT EXISTS invoices_by_request_status ON invoices (request_id, status);
-- Which acuses a thread owes (Tx.owe_acuses): from the digests, not the documents.
CREATE INDEX IF NOT EXISTS invoices_acuses ON invoices (request_id, acuse_digest, position)
    WHERE acuse_digest IS NOT NULL;
"""


def _v6_live(db: sqlite_utils.Database) -> None:
    """One live row per invoice, enforced by the database: two people asking to cancel the
    same invoice at once cannot both win. Existing rows: the newest open or cancelled row of
    a cancellation that was not rejected or expired is the live one."""
    db.execute("ALTER TABLE invoices ADD COLUMN live INTEGER NOT NULL DEFAULT 0")
    states = list(OPEN_OR_DONE)
    closed = [RequestStatus.REJECTED, RequestStatus.EXPIRED]
    db.execute(
        f"UPDATE invoices SET live = 1 WHERE id IN (SELECT max(i.id) FROM invoices i JOIN "
        f"requests r ON r.id = i.request_id WHERE r.kind = 'cancel' AND i.status IN "
        f"({','.join('?' * len(states))}) AND r.status NOT IN (?, ?) GROUP BY i.ref_key)",
        [*states, *closed])
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS invoices_live ON invoices (ref_key) "
               "WHERE live = 1")


def _script(sql: str) -> Callable[[sqlite_utils.Database], None]:
    def apply(db: sqlite_utils.Database) -> None:
        for statement in _statements(sql):
            db.execute(statement)
    return apply


def _statements(sql: str) -> list[str]:
    """Split a script into statements (sqlite3 knows where a trigger body ends)."""
    parts, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            parts.append(current.strip())
            current = ""
    return parts


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _script(V1_TABLES),
    _script(V2_INDEXES),
    _script(V3_SLACK),
    _script(V4_OUTBOX),
    _script(V5_SEND_OPTIONS),
    _v6_live,
    _script(V7_CARD_AND_UPLOADS),
    _script(V8_FACTS),
    _script(V9_META),
    _script(V10_APPROVAL_RULE),
    _script(V11_SAT_WATCH),
    _script(V12_CHECKPOINT_COPIES),
    _script(V13_REMINDERS),
    _script(V14_DELEGATIONS),
    _script(V15_MONTHLY_REPORTS),
    _script(V16_INVOICE_REASONS),
    _script(V17_UPLOAD_CONTENT),
    _script(V18_ACUSE_DIGEST),
    _script(V19_INVOICES_BY_STATUS),
]
LATEST = len(MIGRATIONS)


def version(db: sqlite_utils.Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite_utils.Database, target: int = LATEST) -> int:
    """Bring the file up to `target`, one migration per transaction; returns the version."""
    conn = db.conn
    while (current := version(db)) < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version(db) == current:  # another process may have migrated meanwhile
                MIGRATIONS[current](db)
                conn.execute(f"PRAGMA user_version = {current + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version(db)
