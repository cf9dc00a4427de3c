"""Slack mrkdwn helpers: escaping what people and the provider typed, and dates."""

from __future__ import annotations

from datetime import datetime


def escape(text: str | None) -> str:
    """Make typed text inert: no `<!channel>`, no `<https://x|y>` links, no user mentions."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote(text: str | None) -> str:
    return "\n".join(f">{line}" for line in escape(text).splitlines()) or ">"


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


def when(iso_utc: str) -> str:
    """A time Slack shows in each reader's own time zone, with a UTC fallback."""
    moment = datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"
