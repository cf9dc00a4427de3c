"""Slack mrkdwn helpers: escaping what people and the provider typed, and dates."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import DEFAULT_TIMEZONE

NAME_SHOWN = 80  # characters of an outside name (a file's) quoted in a message

# TIMEZONE's default, for a date rendered without the settings at hand (the demo's log).
DEFAULT_ZONE = ZoneInfo(DEFAULT_TIMEZONE)


def local(iso_utc: str, fmt: str = "%Y-%m-%d %H:%M %Z", zone: ZoneInfo | None = None) -> str:
    """A stored UTC time as people read it: in TIMEZONE."""
    moment = datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    return moment.astimezone(zone or DEFAULT_ZONE).strftime(fmt)


def escape(text: str | None) -> str:
    """Make typed text inert: no `<!channel>`, no `<https://x|y>` links, no user mentions."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shown_name(name: str) -> str:
    """A name from outside (an attached file's) as a message quotes it: shortened, every
    control, direction or other invisible character shown as "?" (a name like
    "factura<U+202E>lmx.txt" must not pass for another). Still to be escaped in mrkdwn."""
    cut = name[:NAME_SHOWN] + ("…" if len(name) > NAME_SHOWN else "")
    return "".join("?" if unicodedata.category(c) in ("Cc", "Cf", "Co", "Cn") else c
                   for c in cut)


def quote(text: str | None) -> str:
    return "\n".join(f">{line}" for line in escape(text).splitlines()) or ">"


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


def when(iso_utc: str, zone: ZoneInfo | None = None) -> str:
    """A time Slack shows in each reader's own time zone, with a fallback in `zone`
    (TIMEZONE), which Slack shows where it cannot render the date."""
    moment = datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    fallback = local(iso_utc, zone=zone)
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"
