"""The audit file a command uses: opened, or one sentence saying why it cannot be; and what it
belongs to (the sandbox, or a real provider at one address) checked against the settings.

A file records its owner at its first start; `run` then refuses to mix: a rehearsal's file
with a real provider, a real provider's file with the sandbox, or one provider address's file
with another (its pending invoices would be asked of the wrong service).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.config.sentences import without_userinfo
from bot.i18n import t
from storage import meta
from storage.store import AuditStore

log = logging.getLogger(__name__)


class Unusable(Exception):
    """The audit file cannot be used for this command; `sentence` says why and what to do,
    `code` is the exit code (1: no such file, 2: it cannot be opened)."""

    def __init__(self, sentence: str, code: int = 2) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.code = code


def owner_for(settings: Settings) -> meta.Owner:
    if settings.sandbox:
        return meta.Owner(meta.SANDBOX, None)
    return meta.Owner(meta.PROVIDER, without_userinfo(settings.cfdi_endpoint).rstrip("/"))


def open_store(path: Path, lang: str, **options: Any) -> AuditStore:
    """AuditStore.open, with a sentence instead of a traceback when the folder cannot be
    created or the file cannot be opened."""
    try:
        return AuditStore.open(path, **options)
    except (OSError, sqlite3.Error) as exc:
        error = getattr(exc, "strerror", None) or str(exc)
        raise Unusable(t("db.cannot_open", lang, path=path, error=error)) from None


def open_existing(path: Path, lang: str) -> AuditStore:
    """open_store for a command that only reads what is there: no file is Unusable too."""
    if not Path(path).exists():
        raise Unusable(f"There is no audit database at {path} (AUDIT_DB).", 1)
    return open_store(path, lang)


def mismatch(found: meta.Owner | None, wanted: meta.Owner, path: Path, lang: str) -> str | None:
    """The sentence that refuses to mix, or None when the file may be used."""
    if found is None or found == wanted:
        return None
    if found.mode == meta.SANDBOX:
        return t("db.sandbox_file", lang, path=path, endpoint=wanted.endpoint)
    if wanted.mode == meta.SANDBOX:
        return t("db.provider_file", lang, path=path, recorded=found.endpoint)
    return t("db.other_endpoint", lang, path=path, recorded=found.endpoint,
             endpoint=wanted.endpoint)


def claim(store: AuditStore, settings: Settings, path: Path) -> None:
    """Record the owner at the first start, or refuse (Unusable) a file of another."""
    wanted = owner_for(settings)
    found = meta.read_owner(store.db)
    if found is None:
        had_events = store.last_event_id() > 0
        found = meta.record_owner(store.db, wanted, store.now())
        # (not the word "sandbox": it is also the default password, masked in every log)
        shown = found.endpoint or "the simulated provider"
        if had_events:
            log.info("the audit database %s did not say which provider it belongs to; "
                     "recorded now: %s", path, shown)
        else:
            log.info("the audit database %s belongs to %s from now on", path, shown)
    if (sentence := mismatch(found, wanted, path, settings.language)) is not None:
        raise Unusable(sentence)


def open_for(settings: Settings, path: Path | None = None, **options: Any) -> AuditStore:
    """The file opened and claimed for this run (AUDIT_DB unless `path`). Raises Unusable."""
    path = path or settings.audit_db
    store = open_store(path, settings.language, **options)
    try:
        claim(store, settings, path)
    except BaseException:
        store.close()
        raise
    return store
