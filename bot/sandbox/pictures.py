"""`python -m bot.sandbox.pictures` (`make pictures`): the README's pictures, drawn from the
bot's real Block Kit so that they never drift from the code.

It plays the demo's flow offline (bot/sandbox/demo.py) into a temporary database, renders
what the Slack stand-in received to pages that resemble Slack (slack_html.py), and
captures each page with headless Chromium into docs/pictures/ (made smaller with pngquant
when it is installed). It is not part of
`make test` (CI has no Chromium); tests/test_pictures.py checks the pages without it.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.i18n import t
from bot.sandbox import slack_html as ui
from bot.sandbox.demo import Scenes, run_demo
from bot.sandbox.large_scene import LargeScene, collect_large
from bot.sandbox.month import fill_month
from bot.sandbox.reminder_scenes import ReminderScenes, collect_reminders
from bot.sandbox.stage import APPROVALS, FINANCE, Stage

WIDTH = 720
OUT = Path("docs/pictures")
PICTURES = ("form-error", "card", "thread", "home", "status", "reminder",  # keys of `pages`
            "digest", "report", "large-card")
REPORT_INVOICES = 240   # the month drawn in the report's picture (bot/sandbox/month.py)


def _time(ts: str) -> str:
    return datetime.fromtimestamp(float(ts), UTC).strftime("%H:%M")


@dataclass
class ReportScene:
    """What an approver received for `/cfdi reporte`: the message and the files shared."""

    blocks: list[dict[str, Any]]
    ts: str
    files: list[dict[str, Any]]


def pages(scenes: Scenes, lang: str, reminders: ReminderScenes | None = None,
          report: ReportScene | None = None, large: LargeScene | None = None
          ) -> dict[str, str]:
    """Each picture's HTML page, by file name (without .png)."""
    render = ui.Renderer(scenes.users, scenes.channels, lang)
    approvals, finance = "#" + scenes.channels[APPROVALS], "#" + scenes.channels[FINANCE]
    card = scenes.card
    assert card is not None, "the demo did not reach the card"
    replies = t("picture.replies", lang, count=len(scenes.thread) + len(scenes.files))
    thread = [(m.ts, ui.message(render, m.blocks, time=_time(m.ts))) for m in scenes.thread]
    thread += [(f["ts"], ui.message(render, [], time=_time(f["ts"]), extra=ui.file_card(
        f["filename"], f.get("title") or f["filename"]))) for f in scenes.files]
    dms = {} if reminders is None else {
        name: ui.page(name, ui.conversation(t("picture.dm", lang), "", [ui.message(
            ui.Renderer(reminders.users, reminders.channels, lang), shown.blocks,
            time=_time(shown.ts))]))
        for name, shown in (("reminder", reminders.reminder), ("digest", reminders.digest))
        if shown is not None}
    return dms | {
        "form-error": ui.page("form", ui.modal(render, scenes.form, scenes.form_values,
                                               scenes.form_errors)),
        "card": ui.page("card", ui.conversation(approvals, "", [ui.message(
            render, card.blocks, time=_time(card.ts),
            extra=f'<div class="replies">{ui.esc(replies)}</div>')])),
        "thread": ui.page("thread", ui.conversation(t("picture.thread", lang), approvals, [
            shown for _, shown in sorted(thread, key=lambda item: float(item[0]))])),
        "home": ui.page("home", ui.home(render, scenes.home)),
        "status": ui.page("status", ui.conversation(finance, "", [ui.message(
            render, scenes.status["blocks"], note=t("picture.only_you", lang))])),
    } | ({} if report is None else {"report": report_page(render, report, lang)}) | (
        {} if large is None else {"large-card": large_page(large, lang)})


def large_page(large: LargeScene, lang: str) -> str:
    """A large request's card in the approvals channel, with the CSV in its thread."""
    assert large.card is not None, "the large request's card was not posted"
    render = ui.Renderer(large.users, large.channels, lang)
    replies = t("picture.replies", lang, count=len(large.files))
    files = "".join(ui.file_card(f["filename"], f.get("title") or f["filename"], "CSV")
                    for f in large.files)
    return ui.page("large-card", ui.conversation("#" + large.channels[APPROVALS], "", [
        ui.message(render, large.card.blocks, time=_time(large.card.ts),
                   extra=f'<div class="replies">{ui.esc(replies)}</div>{files}')]))


def report_page(render: ui.Renderer, report: ReportScene, lang: str) -> str:
    """The monthly report in the approver's DM: the message, its chart, its spreadsheet."""
    files = "".join(
        ui.image(f["content"], f["filename"]) if f["filename"].endswith(".png")
        else ui.file_card(f["filename"], f.get("title") or f["filename"],
                          f["filename"].rsplit(".", 1)[-1].upper())
        for f in report.files)
    return ui.page("report", ui.conversation(t("picture.dm", lang), "", [ui.message(
        render, report.blocks, time=_time(report.ts), extra=files)]))


def capture(page: Path, png: Path, chromium: str) -> None:
    """Headless Chromium: once to measure the page's height, once to take the picture."""
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--force-device-scale-factor=1"]
    dom = subprocess.run([*common, f"--window-size={WIDTH},2000", "--dump-dom",
                          page.resolve().as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    measured = re.search(r'data-height="(\d+)"', dom)
    window = int(measured.group(1)) if measured else 1200
    subprocess.run([*common, f"--window-size={WIDTH},{window}", f"--screenshot={png}",
                    page.resolve().as_uri()], capture_output=True, timeout=120, check=True)
    if quantizer := shutil.which("pngquant"):  # a third of the size, for the repository
        subprocess.run([quantizer, "--quality", "70-95", "--speed", "1", "--force",
                        "--output", str(png), str(png)], capture_output=True, timeout=120)


async def collect(lang: str) -> Scenes:
    """The demo's flow, quietly, into a database of its own."""
    scenes = Scenes()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(_env_file=None, language=lang)  # type: ignore[call-arg]
        db = Path(folder) / "pictures.db"
        if await run_demo(settings, db, say=lambda _: None, scenes=scenes) != 0:
            raise RuntimeError("the demo did not finish")
    return scenes


async def collect_report(lang: str) -> ReportScene:
    """A month of cancellations written into a database of its own, then an approver's
    `/cfdi reporte` through the bot on the stand-ins."""
    with tempfile.TemporaryDirectory() as folder:
        stage = await Stage.open(Path(folder) / "report.db", language=lang)
        try:
            await fill_month(stage.runtime.store, stage.pac.book, REPORT_INVOICES)
            stage.runtime.store.clock = lambda: datetime(2026, 12, 2, 15, tzinfo=UTC)
            await stage.driver.command("U0BETO", "reporte 2026-11", FINANCE)
            await stage.settle()
            message = stage.slack.dms("U0BETO")[-1]
            files = [u for u in stage.slack.uploads.values()
                     if u["filename"].startswith("reporte-")]
        finally:
            await stage.close()
    return ReportScene(message.blocks, message.ts, files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox.pictures",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder (default {OUT})")
    parser.add_argument("--lang", default="es", choices=["es", "en"])
    parser.add_argument("--html-only", action="store_true",
                        help="write the HTML pages, take no pictures (no Chromium needed)")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None and not args.html_only:
        print("Chromium is not installed (Debian: apt-get install chromium); "
              "use --html-only to write the pages alone.", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    scenes = asyncio.run(collect(args.lang))
    reminders = asyncio.run(collect_reminders(args.lang))
    report = asyncio.run(collect_report(args.lang))
    large = asyncio.run(collect_large(args.lang))
    for name, html in pages(scenes, args.lang, reminders, report, large).items():
        page = args.out / f"{name}.html"
        page.write_text(html, encoding="utf-8")
        if chromium is not None and not args.html_only:
            capture(page, args.out / f"{name}.png", chromium)
            page.unlink()
            print(args.out / f"{name}.png")
        else:
            print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
