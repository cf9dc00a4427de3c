"""The bot's parts, assembled once (bot.runtime.assembly.build) and handed to the
handlers and the watcher."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.providers.contract import Provider
from bot.reporting.service import Reports
from bot.runtime.tasks import Tasks
from bot.sat.consulta.client import SatClient
from bot.slack.attachments import Attachments
from bot.slack.directory import Directory
from bot.slack.io import SlackIO
from bot.slack.outbox import Outbox
from bot.workflow.delegation import Delegation
from bot.workflow.facts import FactFinder
from bot.workflow.lifecycle import Lifecycle
from bot.workflow.lookup import Lookup
from bot.workflow.pace import PACE_SHARE, Pace
from bot.workflow.permissions import Policy
from bot.workflow.rules import ApprovalRules
from bot.workflow.submissions import Submissions
from storage.store import AuditStore


@dataclass
class Services:
    """The bot's parts, built once and handed to the handlers and the watcher."""

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
    facts: FactFinder
    submissions: Submissions
    delegation: Delegation
    reports: Reports

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
        io = SlackIO(settings, store, client)
        policy = Policy(settings, Directory(client, settings.approvers),
                        Directory(client, settings.requesters),
                        Directory(client, settings.escalation_approvers), store,
                        Directory(client, settings.reporters))
        lookup = Lookup(settings, store, io, policy, tasks)
        outbox = Outbox(settings, store, io, after_posting=lookup.refresh_homes)
        # One bound on every large request's background work, after Slack's answers.
        pace = Pace(tasks.quiet, large_at=settings.large_request_at, share=PACE_SHARE)
        facts = FactFinder(settings, store, provider, sat, outbox, pace=pace)
        # The SAT confirms what the provider says is cancelled: the submissions ask FactFinder.
        submissions = Submissions(settings, store, provider, io, outbox, sat=facts, pace=pace)
        lifecycle = Lifecycle(settings, store, provider, io, outbox, policy,
                              ApprovalRules(settings), tasks, submissions, facts)
        return cls(settings, store, provider, tasks, io, policy, outbox, lookup, lifecycle,
                   Attachments(settings, io, lifecycle), facts, submissions,
                   Delegation(settings, store, policy, io),
                   Reports(settings, store, io, policy, tasks))
