"""`python -m bot audit browse`: the audit file in Datasette for auditors outside Slack.

An optional extra (`pip install 'cfdi-bot[browse]'`). The file is opened read-only in
SQLite's immutable mode (Datasette's `-i`): nothing an auditor does can change it, and the
bot's writes are not seen until the browser is started again. Canned queries answer what
auditors ask: a month's cancellations, one invoice's story, who approved what and on which
facts, and every event in the catalogue's words. Three SQL functions (registered by a
Datasette plugin here) put the bot's words on the rows: `in_words(action, details,
request_id)`, `local_time(at)` and `local_month(at)` in TIMEZONE.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.i18n import t
from bot.slack.mrkdwn import local
from bot.slack.render.history import what_happened
from storage import browse


def metadata(database: str, lang: str) -> dict[str, Any]:
    """Datasette's metadata: the title and the canned queries, in the bot's language."""
    queries = {}
    for name, sql in browse.CANNED.items():
        queries[name] = {"sql": sql, "title": t(f"browse.{name}.title", lang),
                         "description": t(f"browse.{name}.description", lang)}
    return {"title": t("browse.title", lang), "description": t("browse.description", lang),
            "databases": {database: {"queries": queries}}}


class Words:
    """The Datasette plugin: the SQL functions that show events in the catalogue's words."""

    def __init__(self, lang: str, zone: ZoneInfo) -> None:
        self.lang, self.zone = lang, zone

    def in_words(self, action: str, details: str | None, request_id: int | None) -> str:
        text = what_happened({"action": action, "details": details or "{}",
                              "request_id": request_id}, self.lang)
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def local_time(self, at: str | None) -> str | None:
        return local(at, "%Y-%m-%d %H:%M:%S %Z", self.zone) if at else None

    def local_month(self, at: str | None) -> str | None:
        return local(at, "%Y-%m", self.zone) if at else None

    def register(self, conn: Any) -> None:
        conn.create_function("in_words", 3, self.in_words, deterministic=True)
        conn.create_function("local_time", 1, self.local_time, deterministic=True)
        conn.create_function("local_month", 1, self.local_month, deterministic=True)


def app(path: Path, settings: Settings) -> Any:
    """The Datasette ASGI app over `path`, read-only and immutable (raises ImportError
    without the `browse` extra)."""
    from datasette import hookimpl
    from datasette.app import Datasette
    from datasette.plugins import pm

    words = Words(settings.language, settings.zone)

    class Plugin:
        """Registers the words functions on every connection Datasette opens."""

        __name__ = "cfdi_bot_words"  # Datasette lists plugins by module name

        @hookimpl
        def prepare_connection(self, conn: Any) -> None:
            words.register(conn)

    if pm.get_plugin("cfdi_bot_words") is None:
        pm.register(Plugin(), name="cfdi_bot_words")
    return Datasette(immutables=[str(path)], metadata=metadata(path.stem, settings.language),
                     settings={"default_page_size": 100}, cors=False)


def serve(path: Path, settings: Settings, host: str, port: int) -> int:
    try:
        import uvicorn

        application = app(path, settings)
    except ImportError:
        print(t("browse.not_installed", settings.language))
        return 2
    print(t("browse.serving", settings.language, url=f"http://{host}:{port}/{path.stem}"),
          flush=True)
    uvicorn.run(application.app(), host=host, port=port, log_level="warning")
    return 0
