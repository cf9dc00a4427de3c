"""Copies of every recorded checkpoint where the database's owner cannot rewrite them alone:
appended to the checkpoints file (which `audit backup` copies), and posted to AUDIT_CHANNEL
(or ADMIN_CHANNEL), where Slack keeps each with its own timestamp. A copy that failed (a full
disk, Slack down) stays owed (table checkpoint_copies) and is made at the next run.

And the way back: the checkpoints of a file, or of the channel's history.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.evidence.note import DASH
from bot.i18n import t
from storage import evidence
from storage.store import AuditStore

log = logging.getLogger(__name__)
EVENT_TYPE = "cfdi_audit_checkpoint"   # message metadata carrying the note as it was signed
HISTORY_PAGE = 200                     # messages per conversations.history page
Post = Callable[[evidence.Recorded], Awaitable[str | None]]


@dataclass(frozen=True)
class Published:
    """A checkpoint's note as a copy holds it, and where in that copy it is."""

    where: str
    note: str


def append(path: Path, notes: list[str]) -> None:
    """Append the notes to the file (created mode 0600), synced to disk before returning."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        for note in notes:
            out.write(note + "\n")  # a blank line between notes
        out.flush()
        os.fsync(out.fileno())


def read_file(path: Path) -> list[Published]:
    """The notes of a checkpoints file, in file order: blocks of text lines, each followed
    by its block of signature lines. Raises OSError when the file cannot be read."""
    blocks = [b for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    found: list[Published] = []
    text: str | None = None
    for block in blocks:
        if block.startswith(DASH) and text is not None:
            found.append(Published(f"{path.name} #{len(found) + 1}",
                                   f"{text}\n\n{block.strip(chr(10))}\n"))
            text = None
        else:
            text = block.strip("\n")
    return found


class Publisher:
    """Makes the copies each recorded checkpoint still owes."""

    def __init__(self, store: AuditStore, file: Path, post: Post | None = None) -> None:
        self.store, self.file, self.post = store, file, post

    async def publish(self) -> None:
        owed = evidence.owed(self.store, "filed_at")
        if owed:
            try:
                await asyncio.to_thread(append, self.file, [r.note for r in owed])
            except OSError as exc:
                log.error("could not append %d checkpoint(s) to %s: %s (tried again at the "
                          "next run)", len(owed), self.file, exc.strerror or exc)
            else:
                await evidence.filed(self.store, [r.event_id for r in owed])
        if self.post is None:
            return
        for recorded in evidence.owed(self.store, "slack_ts"):
            ts = await self.post(recorded)
            if ts is None:
                return  # Slack refused or is down (audited): the rest waits for the next run
            await evidence.posted(self.store, recorded.event_id, ts)


def slack_text(recorded: evidence.Recorded, lang: str) -> str:
    return t("checkpoint.posted", lang, size=recorded.size, note=recorded.note.rstrip("\n"))


def metadata(recorded: evidence.Recorded) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {"note": recorded.note}}


def note_of(message: dict[str, Any]) -> str | None:
    """The note a channel message carries: its metadata (the note byte for byte), or, in a
    message an app posted without it, the code block of its text (as Slack escapes it). A
    person quoting a checkpoint in the channel is not one."""
    meta = message.get("metadata") or {}
    if meta.get("event_type") == EVENT_TYPE:
        note = (meta.get("event_payload") or {}).get("note")
        return note if isinstance(note, str) else None
    text = str(message.get("text") or "")
    if not message.get("bot_id") or f"\n{DASH} " not in text or text.count("```") < 2:
        return None
    inner = text.split("```")[1].strip("\n")
    return inner.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") + "\n"


async def read_channel(client: AsyncWebClient, channel: str,
                       page: int = HISTORY_PAGE) -> list[Published]:
    """Every checkpoint in the channel's history, oldest first, following Slack's cursor.
    Raises slack_sdk's SlackApiError when Slack refuses."""
    found: list[tuple[float, Published]] = []
    cursor: str | None = None
    while True:
        answer = await client.conversations_history(
            channel=channel, limit=page, include_all_metadata=True,
            **({"cursor": cursor} if cursor else {}))
        for message in answer.get("messages") or []:
            note = note_of(message)
            if note is not None:
                ts = str(message.get("ts") or "0")
                found.append((float(ts), Published(f"Slack message {ts}", note)))
        cursor = (answer.get("response_metadata") or {}).get("next_cursor")
        if not answer.get("has_more") or not cursor:
            break
    return [published for _, published in sorted(found, key=lambda item: item[0])]
