"""The bot's parts, assembled once (bot.app.build) and handed to the handlers and the watcher."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.approvers import Directory
from bot.attachments import Attachments
from bot.config import Settings
from bot.facts import FactFinder
from bot.lifecycle import Lifecycle
from bot.lookup import Lookup
from bot.mrkdwn import use_zone
from bot.outbox import Outbox
from bot.policy import Policy
from bot.provider import Provider
from bot.sat.consulta.client import SatClient
from bot.slack_io import SlackIO
from bot.tasks import Tasks
from bot.workflow.delegation import Delegation
from storage.store import AuditStore


@dataclass
class Services:
    settings: Settings
    store: AuditStore
    provider: Provider
    tasks: Tasks
    io: SlackIO
    policy: Policy
    outbox: Outbox
    lookup: Lookup
    lifecycle: Lifecycle
    attachments: Attachments
    delegation: Delegation

    @property
    def lang(self) -> str:
        return self.settings.language

    @property
    def sandbox(self) -> bool:
        return self.settings.sandbox

    @classmethod
    def assemble(cls, settings: Settings, store: AuditStore, provider: Provider,
                 client: AsyncWebClient, tasks: Tasks, sat: SatClient | None = None
                 ) -> Services:
        use_zone(settings.zone)
        io = SlackIO(settings, store, client)
        policy = Policy(settings, Directory(client, settings.approvers),
                        Directory(client, settings.requesters), store)
        outbox = Outbox(settings, store, io)
        lookup = Lookup(settings, store, io, policy, tasks)
        outbox.after_posting = lookup.refresh_homes
        lifecycle = Lifecycle(settings, store, provider, io, outbox, policy, tasks)
        lifecycle.facts = FactFinder(settings, store, provider, sat, outbox)
        lifecycle.submissions.sat = lifecycle.facts  # the SAT confirms what is cancelled
        return cls(settings, store, provider, tasks, io, policy, outbox, lookup, lifecycle,
                   Attachments(settings, io, lifecycle),
                   Delegation(settings, store, policy, io))
