"""The people of the ack benchmark: the requests they send, built as Slack builds them.

Bodies come from the sandbox's SlackDriver (the same payloads the tests send), reading what
a person would see from the stand-ins' process: the cancel forms the bot opened (submitted
with a new invoice each, so that each is accepted) and the request cards still waiting
(approved by an approver). Trigger ids are issued right before each round, since Slack's
expire after 3 s.
"""

from __future__ import annotations

import itertools
from typing import cast

from benchmarks.loadgen import Shot
from benchmarks.standins import StandIns
from bot.sandbox.slack_driver import SlackDriver
from bot.sandbox.slack_records import Message
from bot.sandbox.slack_server import SlackStandIn
from bot.sandbox.stage import APPROVALS, FINANCE
from bot.slack.render.kit import APPROVE_ACTION

REQUESTER, APPROVER = "U0ANA", "U0BETO"
KINDS = ("ayuda", "cancelar", "form", "approve")
FORM_FIELDS = {"reason": "02", "justification": "benchmark"}


def _request_of(card: Message) -> str:
    """The request a card is for: its Approve button's value."""
    return next(str(e["value"]) for b in card.blocks if b.get("type") == "actions"
                for e in b.get("elements", []) if e.get("action_id") == APPROVE_ACTION)


class People:
    """The finance team the load generator plays: forms opened and submitted, cards clicked."""
    def __init__(self, standins: StandIns, signing_secret: str) -> None:
        self.standins = standins
        # The driver only builds bodies here (the load generator sends them).
        self.driver = SlackDriver("", signing_secret, cast(SlackStandIn, standins))
        self.views: list[dict[str, object]] = []     # cancel forms opened, not yet submitted
        self.cards: list[Message] = []               # cards waiting, not yet clicked
        self.views_opened = 0
        self.submitted: list[str] = []               # invoice UUIDs typed into sent forms
        self._view_skip = self._card_skip = 0
        self._serial = itertools.count(1)
        self._clicked: set[str] = set()   # requests whose card is pooled or was clicked

    def skip_existing(self) -> None:
        """Forget forms and cards shown so far (they belong to another bot's database)."""
        self.refresh()
        self.views, self.cards, self.views_opened = [], [], 0

    def refresh(self) -> int:
        """Take in the forms and cards the bot opened and posted since the last look; the
        number of new forms."""
        views, self._view_skip = self.standins.call("cancel_views", self._view_skip)
        cards, self._card_skip = self.standins.call("cards", APPROVALS, self._card_skip)
        self.views += views
        # One click per request: a request whose card was posted twice is clicked once.
        for card in cards:
            if (request := _request_of(card)) not in self._clicked:
                self._clicked.add(request)
                self.cards.append(card)
        self.views_opened += len(views)
        return len(views)

    def fresh_uuid(self) -> str:
        n = next(self._serial)
        return f"{n:08X}-BE0C-4000-8000-{n:012X}"  # code 000: received, then cancelled

    def command(self, text: str) -> bytes:
        return self.driver.command_body(REQUESTER, text, FINANCE).encode()

    def form(self, uuid: str | None = None) -> Shot:
        """A cancel form the bot opened, submitted with one new invoice."""
        uuid = uuid or self.fresh_uuid()
        self.submitted.append(uuid)
        view = self.views.pop(0)
        body = self.driver.view_body(REQUESTER, view, {"invoices": uuid, **FORM_FIELDS})
        return Shot("form", body.encode())

    def approve(self) -> Shot:
        card = self.cards.pop(0)
        body = self.driver.click_body(APPROVER, APPROVALS, card.ts, APPROVE_ACTION)
        return Shot("approve", body.encode())

    def round(self, per_kind: int, kinds: tuple[str, ...] = KINDS, spread_s: float = 0.0
              ) -> list[Shot]:
        """Up to `per_kind` of each of `kinds` (forms and clicks: as many as are waiting),
        mixed; with `spread_s`, sent evenly over that many seconds instead of all at once."""
        forms = min(per_kind, len(self.views)) if "form" in kinds else 0
        clicks = min(per_kind, len(self.cards)) if "approve" in kinds else 0
        commands = [k for k in ("ayuda", "cancelar") if k in kinds]
        self.standins.refill(len(commands) * per_kind + forms + clicks)
        groups = [[Shot(k, self.command(k)) for _ in range(per_kind)] for k in commands]
        groups += [[self.form() for _ in range(forms)], [self.approve() for _ in range(clicks)]]
        mixed = [shot for column in itertools.zip_longest(*groups) for shot in column if shot]
        if spread_s:
            step = spread_s / len(mixed)
            mixed = [Shot(s.kind, s.body, i * step) for i, s in enumerate(mixed)]
        return mixed
