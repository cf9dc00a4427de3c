"""The audit log checked against published checkpoints (a checkpoints file, the channel).

One walk of the chain, oldest event first, recomputing each hash as `storage/chain.py`
does. Before it: every checkpoint must be signed by the trusted key, name this log, and
follow the one before it in the copy (its `previous` line). During it: the ids must run
1, 2, 3… and event number <size> must have the hash each checkpoint names. After it: every
checkpoint must be recorded in the log, as the event right after its head. The first thing
that disagrees ends the walk with one sentence naming the event or the checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.evidence.note import NoteError, PublicKey, SignedCheckpoint, open_note
from bot.evidence.publishing import Published
from bot.i18n import t
from storage import evidence
from storage.chain import GENESIS, event_hash


@dataclass(frozen=True)
class Finding:
    """The verdict: `ok`, and the sentence that says it (naming what disagrees)."""

    ok: bool
    sentence: str


@dataclass(frozen=True)
class _Copy:
    """A published checkpoint, opened, and where the copy holds it."""

    where: str
    signed: SignedCheckpoint

    @property
    def size(self) -> int:
        return self.signed.checkpoint.size

    @property
    def time(self) -> str:
        return shown_time(self.signed.checkpoint.time)


def shown_time(iso: str) -> str:
    return iso[:19].replace("T", " ") + " UTC"


class _Disagree(Exception):
    """The first thing that disagrees: ends the verification with its sentence."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def verify(events: Iterable[dict[str, Any]], published: list[Published], key: PublicKey,
           source: str, lang: str) -> Finding:
    try:
        copies = _opened(published, key, source, lang)
        count, head, recorded = _walk(events, copies, lang)
        _all_recorded(copies, recorded, source, lang)
    except _Disagree as exc:
        return Finding(False, exc.sentence)
    last = max(copies, key=lambda c: c.size)
    return Finding(True, t("checkpoint.verified", lang, count=count, checkpoints=len(copies),
                           source=source, time=last.time, size=last.size,
                           after=count - last.size, head=head))


def _opened(published: list[Published], key: PublicKey, source: str,
            lang: str) -> list[_Copy]:
    """Each note opened with the trusted key, in the copy's order, chained to the one before."""
    if not published:
        raise _Disagree(t("checkpoint.none_published", lang, source=source))
    copies: list[_Copy] = []
    for item in published:
        try:
            signed = open_note(item.note, key)
        except NoteError as exc:
            raise _Disagree(t("checkpoint.refused", lang, where=item.where, error=exc)) \
                from None
        if signed.checkpoint.origin != key.name:
            raise _Disagree(t("checkpoint.other_log", lang, where=item.where,
                              origin=signed.checkpoint.origin, expected=key.name))
        if copies and copies[-1].signed.signature == signed.signature:
            continue  # the same note twice (a copy made again after a crash)
        copy = _Copy(item.where, signed)
        if copies:
            before = copies[-1]
            if signed.checkpoint.previous != before.signed.signature:
                raise _Disagree(t("checkpoint.gap", lang, source=source, where=item.where,
                                  before=before.where, time=before.time))
            if copy.size < before.size:
                raise _Disagree(t("checkpoint.shrank", lang, where=item.where, size=copy.size,
                                  before=before.size))
        copies.append(copy)
    return copies


def _walk(events: Iterable[dict[str, Any]], copies: list[_Copy],
          lang: str) -> tuple[int, str, dict[str, int]]:
    """Recompute the chain; compare each checkpoint's head. Returns the number of events,
    the head hash and the recorded checkpoints (signature -> event id)."""
    pending = sorted(copies, key=lambda c: c.size)
    matched, prev_hash, expected_id = 0, GENESIS, 1
    recorded: dict[str, int] = {}

    def compare(size: int, hash_: str) -> None:
        nonlocal matched
        while pending and pending[0].size == size:
            copy = pending.pop(0)
            if copy.signed.checkpoint.head != hash_:
                raise _Disagree(t("checkpoint.rewritten", lang, event=size, where=copy.where,
                                  time=copy.time, first=matched + 1))
            matched = size

    compare(0, GENESIS)
    for event in events:
        if event["id"] != expected_id:
            raise _Disagree(t("checkpoint.missing_event", lang, event=expected_id,
                              before=expected_id - 1, found=event["id"]))
        if event["prev_hash"] != prev_hash:
            raise _Disagree(t("checkpoint.chain", lang, event=event["id"], problem=t(
                "checkpoint.chain_link", lang)))
        try:
            ok = event["hash"] == event_hash(event, prev_hash)
        except (json.JSONDecodeError, TypeError):
            ok = False
        if not ok:
            raise _Disagree(t("checkpoint.chain", lang, event=event["id"], problem=t(
                "checkpoint.chain_content", lang)))
        prev_hash = event["hash"]
        if event["action"] == evidence.ACTION:
            details = event["details"]
            details = json.loads(details) if isinstance(details, str) else details
            recorded[str(details.get("signature"))] = int(event["id"])
        compare(expected_id, prev_hash)
        expected_id += 1
    count = expected_id - 1
    if pending:
        copy = pending[0]
        raise _Disagree(t("checkpoint.truncated", lang, where=copy.where, time=copy.time,
                          size=copy.size, count=count, first=count + 1))
    return count, prev_hash, recorded


def _all_recorded(copies: list[_Copy], recorded: dict[str, int], source: str,
                  lang: str) -> None:
    for copy in copies:
        if recorded.get(copy.signed.signature) != copy.size + 1:
            raise _Disagree(t("checkpoint.unrecorded", lang, where=copy.where, time=copy.time,
                              size=copy.size, event=copy.size + 1))
    first = copies[0].signed.checkpoint.previous
    if first is not None and first not in recorded:
        raise _Disagree(t("checkpoint.gap", lang, source=source, where=copies[0].where,
                          before=t("checkpoint.the_start", lang), time="-"))
