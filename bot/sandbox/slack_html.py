"""Block Kit as an HTML page that resembles Slack, for the README's pictures
(bot/sandbox/pictures.py). Only what the bot sends is drawn: a block or element of a type
it does not know raises, so a new kind of block cannot slip into a picture unseen.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any

from bot.i18n import t

Blocks = list[dict[str, Any]]
BLOCKS = frozenset({"header", "section", "context", "actions", "divider", "input"})
ELEMENTS = frozenset({"button", "plain_text_input", "static_select", "multi_users_select",
                      "checkboxes", "file_input"})

_SPECIAL = re.compile(r"<([@#!]?)([^>|]+)(?:\|([^>]*))?>")
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_HOLD = re.compile("\x00(\\d+)\x00")

CSS = """
body { margin: 0; } main { background: #fff; color: #1d1c1d; width: 720px;
  font: 15px/1.47 "Lato", "Helvetica Neue", "Liberation Sans", Arial, "Noto Color Emoji",
  sans-serif; }
.bar { background: #3f0e40; color: #fff; padding: 10px 20px; font-weight: 700; }
.bar small { font-weight: 400; opacity: .75; margin-left: 8px; }
.pane { padding: 8px 0 16px; }
.msg { display: flex; padding: 8px 20px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff;
  font: 700 13px/36px "Liberation Sans", Arial, sans-serif; text-align: center;
  flex: none; margin-right: 8px; }
.body { flex: 1; min-width: 0; }
.who { font-weight: 900; } .app { background: #e8e8e8; color: #616061; font-size: 10px;
  font-weight: 700; padding: 1px 3px; border-radius: 2px; margin: 0 4px; }
.time, .note, .hint { color: #616061; font-size: 12px; }
.note { margin-bottom: 2px; }
.block-header { font-size: 18px; font-weight: 900; margin: 4px 0; }
.block-section { margin: 4px 0; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin: 6px 0; }
.block-context { color: #616061; font-size: 13px; margin: 4px 0; }
.block-divider { border-top: 1px solid #ddd; margin: 12px 0; }
.block-actions { margin: 8px 0; display: flex; gap: 8px; }
.button { border: 1px solid #bbb; border-radius: 4px; padding: 3px 12px; font-weight: 700;
  font-size: 14px; background: #fff; }
.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
code { font: 12px "DejaVu Sans Mono", monospace; color: #c01343; background: #f6f6f6;
  border: 1px solid #ddd; border-radius: 3px; padding: 1px 3px; }
blockquote { margin: 2px 0; padding-left: 10px; border-left: 4px solid #ddd; }
.mention { background: #e8f5fa; color: #1264a3; border-radius: 3px; padding: 0 2px; }
a { color: #1264a3; text-decoration: none; }
.replies { color: #1264a3; font-size: 13px; font-weight: 700; margin-top: 4px; }
.file { display: flex; align-items: center; border: 1px solid #ddd; border-radius: 8px;
  padding: 8px 12px; margin: 6px 0; width: 360px; }
.file .icon { background: #1264a3; color: #fff; font: 700 11px/32px Arial, sans-serif;
  width: 32px; text-align: center; border-radius: 4px; margin-right: 10px; }
.image { margin: 6px 0; border: 1px solid #ddd; border-radius: 8px; overflow: hidden;
  width: 600px; }
.image img { display: block; width: 100%; }
.modal { margin: 16px auto; width: 600px; border-radius: 8px; background: #fff;
  box-shadow: 0 0 0 1px rgba(0,0,0,.1), 0 4px 12px rgba(0,0,0,.2); }
.backdrop { background: #7a7a7a; padding: 8px 0; }
.modal .title { font-size: 22px; font-weight: 900; padding: 16px 24px;
  border-bottom: 1px solid #ddd; }
.modal .content { padding: 4px 24px 8px; }
.modal .footer { border-top: 1px solid #ddd; padding: 16px 24px; display: flex;
  justify-content: flex-end; gap: 8px; }
.block-input { margin: 14px 0; }
.label { font-weight: 700; margin-bottom: 4px; }
.label .optional { color: #616061; font-weight: 400; }
.box { border: 1px solid #8d8d8d; border-radius: 4px; padding: 6px 10px; min-height: 22px;
  white-space: pre-wrap; }
.box.multi { min-height: 60px; } .box.empty { color: #8d8d8d; }
.invalid .box { border-color: #e01e5a; box-shadow: 0 0 0 1px #e01e5a; }
.error { color: #e01e5a; font-size: 13px; margin-top: 4px; }
.check { font-size: 14px; }
.tabs { display: flex; gap: 24px; padding: 0 20px; border-bottom: 1px solid #ddd;
  font-weight: 700; color: #616061; }
.tabs span { padding: 10px 0; } .tabs .on { color: #1d1c1d; border-bottom: 2px solid #1264a3; }
.home { padding: 8px 20px 16px; }
"""


def mrkdwn(text: str, users: dict[str, str], channels: dict[str, str]) -> str:
    """Slack mrkdwn as HTML: mentions, channels, dates and links; `code`, *bold*, _italic_,
    > quotes. Text the bot escaped for Slack (`&lt;`) stays escaped."""
    held: list[str] = []

    def hold(markup: str) -> str:
        held.append(markup)
        return f"\x00{len(held) - 1}\x00"

    def special(match: re.Match[str]) -> str:
        sigil, target, label = match.groups()
        if sigil == "@":
            return hold(f'<span class="mention">@{esc(users.get(target, target))}</span>')
        if sigil == "#":
            return hold(f'<span class="mention">#{esc(channels.get(target, target))}</span>')
        if sigil == "!":  # <!date^…|fallback>
            return hold(esc(label or ""))
        return hold(f'<a href="{esc(target)}">{esc(label or target)}</a>')

    lines = []
    for line in _SPECIAL.sub(special, text).split("\n"):
        quoted = line.startswith("&gt;") or line.startswith(">")
        line = line.removeprefix("&gt;").removeprefix(">") if quoted else line
        line = _CODE.sub(lambda m: hold(f"<code>{m.group(1)}</code>"), line)
        line = _BOLD.sub(r"<b>\1</b>", line)
        line = _ITALIC.sub(r"<i>\1</i>", line)
        lines.append(f"<blockquote>{line}</blockquote>" if quoted else line)
    joined = "<br>".join(lines).replace("</blockquote><br><blockquote>", "<br>")
    # A quote is a block of its own: no line break of its own before or after it.
    joined = joined.replace("</blockquote><br>", "</blockquote>").replace("<br><blockquote>",
                                                                          "<blockquote>")
    while _HOLD.search(joined):
        joined = _HOLD.sub(lambda m: held[int(m.group(1))], joined)
    return joined


def esc(text: str) -> str:
    return html.escape(text, quote=True)


class Renderer:
    """Blocks to HTML for one workspace's names (user and channel ids to names)."""

    def __init__(self, users: dict[str, str], channels: dict[str, str], lang: str) -> None:
        self.users, self.channels, self.lang = users, channels, lang

    def text(self, item: dict[str, Any] | None) -> str:
        if not item:
            return ""
        if item.get("type") == "plain_text":
            return esc(item["text"]).replace("\n", "<br>")
        return mrkdwn(item["text"], self.users, self.channels)

    def blocks(self, blocks: Blocks, values: dict[str, Any] | None = None,
               errors: dict[str, str] | None = None) -> str:
        return "\n".join(self.block(b, values or {}, errors or {}) for b in blocks)

    def block(self, block: dict[str, Any], values: dict[str, Any], errors: dict[str, str]
              ) -> str:
        kind = block["type"]
        if kind not in BLOCKS:
            raise ValueError(f"no picture for Block Kit block {kind!r}")
        css = f"block-{kind}"
        if kind == "header":
            return f'<div class="{css}">{self.text(block["text"])}</div>'
        if kind == "divider":
            return f'<div class="{css}"></div>'
        if kind == "context":
            return f'<div class="{css}">{" ".join(self.text(e) for e in block["elements"])}</div>'
        if kind == "actions":
            return f'<div class="{css}">{"".join(self.element(e) for e in block["elements"])}</div>'
        if kind == "section":
            fields = "".join(f"<div>{self.text(f)}</div>" for f in block.get("fields") or [])
            return (f'<div class="{css}">{self.text(block.get("text"))}'
                    f'{f"<div class=fields>{fields}</div>" if fields else ""}</div>')
        return self.input(block, values.get(block["block_id"]), errors.get(block["block_id"]))

    def input(self, block: dict[str, Any], value: Any, error: str | None) -> str:
        optional = (f' <span class="optional">{esc(t("picture.optional", self.lang))}</span>'
                    if block.get("optional") else "")
        hint = f'<div class="hint">{self.text(block["hint"])}</div>' if block.get("hint") else ""
        shown = f'<div class="error">{esc(error)}</div>' if error else ""
        return (f'<div class="block-input{" invalid" if error else ""}">'
                f'<div class="label">{self.text(block["label"])}{optional}</div>'
                f'{self.element(block["element"], value)}{shown}{hint}</div>')

    def element(self, element: dict[str, Any], value: Any = None) -> str:
        kind = element["type"]
        if kind not in ELEMENTS:
            raise ValueError(f"no picture for Block Kit element {kind!r}")
        if kind == "button":
            style = element.get("style", "")
            return f'<span class="button {style}">{self.text(element["text"])}</span>'
        if kind == "checkboxes":
            chosen = {o["value"] for o in element.get("initial_options") or []}
            return "".join(f'<div class="check">{"☑" if o["value"] in chosen else "☐"} '
                           f'{self.text(o["text"])}</div>' for o in element["options"])
        if kind == "static_select":
            option = next((o for o in element["options"] if o["value"] == value), None)
            shown = self.text(option["text"]) if option else self.text(element.get("placeholder"))
            return f'<div class="box{"" if option else " empty"}">{shown} ▾</div>'
        if kind == "file_input":  # the drop zone, or the names of the files dropped in it
            names = ", ".join(f["name"] for f in value or [])
            return (f'<div class="box{"" if names else " empty"}">'
                    f'{esc(names or t("picture.file_drop", self.lang))}</div>')
        if kind == "multi_users_select":
            names = ", ".join("@" + self.users.get(u, u) for u in value or [])
            return f'<div class="box{"" if names else " empty"}">{esc(names)}</div>'
        typed = value if value is not None else element.get("initial_value") or ""
        multi = " multi" if element.get("multiline") else ""
        return f'<div class="box{multi}">{esc(typed)}</div>'


def page(title: str, body: str) -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{esc(title)}'
            f'</title><style>{CSS}</style></head><body><main>{body}</main>'
            # The picture's height: where the page ends (pictures.capture reads it).
            '<script>document.body.dataset.height = Math.ceil(document.querySelector("main")'
            '.getBoundingClientRect().bottom);</script></body></html>')


def message(render: Renderer, blocks: Blocks, *, note: str = "", extra: str = "",
            time: str = "") -> str:
    """One message of the bot, as a channel or a thread shows it."""
    head = (f'<div><span class="who">CFDI Bot</span><span class="app">APP</span>'
            f'<span class="time">{esc(time)}</span></div>')
    noted = f'<div class="note">{esc(note)}</div>' if note else ""
    return (f'<div class="msg"><div class="avatar">CB</div><div class="body">{noted}{head}'
            f'{render.blocks(blocks)}{extra}</div></div>')


def file_card(name: str, title: str, icon: str = "XML") -> str:
    return (f'<div class="file"><div class="icon">{esc(icon)}</div><div><b>{esc(title)}</b>'
            f'<div class="hint">{esc(name)}</div></div></div>')


def image(png: bytes, title: str) -> str:
    """An image shared in the conversation (the report's chart), as Slack previews it."""
    data = base64.b64encode(png).decode()
    return (f'<div class="image"><img alt="{esc(title)}" '
            f'src="data:image/png;base64,{data}"></div>')


def conversation(header: str, sub: str, messages: list[str]) -> str:
    return f'<div class="bar">{esc(header)}<small>{esc(sub)}</small></div>' \
           f'<div class="pane">{"".join(messages)}</div>'


def modal(render: Renderer, view: dict[str, Any], values: dict[str, Any],
          errors: dict[str, str]) -> str:
    """A form as it looks after a submission came back with errors under its fields."""
    buttons = "".join(f'<span class="button {style}">{render.text(view[key])}</span>'
                      for key, style in (("close", ""), ("submit", "primary")) if view.get(key))
    return (f'<div class="backdrop"><div class="modal"><div class="title">'
            f'{render.text(view["title"])}</div><div class="content">'
            f'{render.blocks(view["blocks"], values, errors)}</div>'
            f'<div class="footer">{buttons}</div></div></div>')


def home(render: Renderer, view: dict[str, Any]) -> str:
    tabs = [t(f"picture.tab.{tab}", render.lang) for tab in ("home", "messages", "about")]
    shown = "".join(f'<span class="{"on" if n == 0 else ""}">{esc(tab)}</span>'
                    for n, tab in enumerate(tabs))
    return (f'<div class="bar">CFDI Bot</div><div class="tabs">{shown}</div>'
            f'<div class="home">{render.blocks(view["blocks"])}</div>')

