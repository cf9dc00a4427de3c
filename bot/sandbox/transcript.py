"""What people would see in Slack, as text, for the demo: each new message, ephemeral, modal
and file in the Slack stand-in since the last look, with where it appeared.

The sandbox banner, which every message carries in Slack, is left out here (the demo says it
once at the top); an updated card shows its title and the lines that changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.i18n import t
from bot.sandbox.render import blocks_to_lines
from bot.sandbox.slack_server import SlackStandIn

Blocks = list[dict[str, Any]]


def without_banner(blocks: Blocks, lang: str) -> Blocks:
    banner = t("sandbox.banner", lang)
    return [b for b in blocks if not (b.get("type") == "context" and [
        e.get("text") for e in b.get("elements") or []] == [banner])]


class Transcript:
    """What each person saw during the demo, printed as lines."""

    def __init__(self, slack: SlackStandIn, say: Callable[[str], None], lang: str) -> None:
        self.slack, self.say, self.lang = slack, say, lang
        self.seen: dict[tuple[str, str], int] = {}
        self.shown: dict[tuple[str, str], list[str]] = {}   # lines last printed per message
        self.ephemerals = 0
        self.view_hashes: dict[str, str | None] = {}  # each view as last shown
        self.files: set[str] = set()

    def lines(self, blocks: Blocks) -> list[str]:
        return blocks_to_lines(without_banner(blocks, self.lang), self.slack.users,
                               self.slack.channels)

    def block(self, where: str, lines: list[str]) -> None:
        self.say("  " + where)
        for line in lines:
            self.say("    " + line)

    def answer(self, user: str, channel: str, body: dict[str, Any]) -> None:
        """A slash command's answer: only the person who typed it sees it."""
        self.block(self._ephemeral(user, channel), self.lines(body.get("blocks") or []))

    def form_errors(self, view: dict[str, Any], errors: dict[str, str]) -> None:
        """The form came back with a message under each field that needs a change."""
        labels = {b.get("block_id"): b["label"]["text"] for b in view["blocks"]
                  if b.get("type") == "input"}
        self.say("  " + t("demo.where.modal", self.lang, title=view["title"]["text"]))
        for field, error in errors.items():
            self.say("    " + t("demo.form_error", self.lang, field=labels.get(field, field),
                                error=error))

    def home(self, user: str) -> None:
        self.block(t("demo.where.home", self.lang, user=self.slack.users[user]),
                   self.lines(self.slack.homes[user]["blocks"]))

    def _ephemeral(self, user: str, channel: str) -> str:
        return t("demo.where.ephemeral", self.lang, user=self.slack.users[user],
                 channel=self.slack.channels.get(channel, channel))

    def show(self) -> None:
        users, channels = self.slack.users, self.slack.channels
        for view in list(self.slack.views.values()):  # new, or changed by views.update
            if self.view_hashes.get(view["id"]) != view.get("hash"):
                self.view_hashes[view["id"]] = view.get("hash")
                self.block(t("demo.where.modal", self.lang, title=view["title"]["text"]),
                           self.lines(view["blocks"]))
        for note in self.slack.ephemerals[self.ephemerals:]:
            blocks = note["blocks"]
            self.block(self._ephemeral(note["user"], note["channel"]),
                       self.lines(json.loads(blocks) if isinstance(blocks, str) else blocks))
        self.ephemerals = len(self.slack.ephemerals)
        for message in self.slack.messages:
            key = (message.channel, message.ts)
            if self.seen.get(key) == message.edits:
                continue
            channel = channels.get(message.channel)
            lines = self.lines(message.blocks)
            if message.channel.startswith("D"):
                where = t("demo.where.dm", self.lang, user=users[message.channel[1:]])
            elif key in self.seen:
                where = t("demo.where.updated", self.lang, channel=channel)
                before = self.shown[key]
                lines = lines[:1] + [line for line in lines[1:] if line not in before]
            elif message.thread_ts:
                where = t("demo.where.thread", self.lang, channel=channel)
            else:
                where = t("demo.where.channel", self.lang, channel=channel)
            self.seen[key] = message.edits
            self.shown[key] = self.lines(message.blocks)
            self.block(where, lines)
        for file_id, upload in self.slack.uploads.items():
            if file_id not in self.files and upload.get("channel"):
                self.files.add(file_id)
                if upload["channel"].startswith("D"):  # a file sent to one person
                    self.say("  " + t("bulk.demo.dm_file", self.lang,
                                      user=users[upload["channel"][1:]],
                                      name=upload["filename"], size=len(upload["content"]),
                                      comment=upload.get("comment") or ""))
                    continue
                self.say("  " + t("demo.where.file", self.lang, channel=channels[upload["channel"]],
                                  name=upload["filename"], size=len(upload["content"])))
