"""Who may approve and who may ask: Slack user IDs, and members of Slack user groups.

Group membership is looked up through `usergroups.users.list` and cached briefly, so a
change in Slack takes effect within `ttl_s` without a call on every click.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class Directory:
    def __init__(self, client: AsyncWebClient, ids: Sequence[str], ttl_s: float = 300) -> None:
        self.client = client
        self.users = {i for i in ids if not i.startswith("S")}
        self.groups = [i for i in ids if i.startswith("S")]
        self.ttl_s = ttl_s
        self._members: dict[str, tuple[float, set[str]]] = {}

    @property
    def empty(self) -> bool:
        return not self.users and not self.groups

    async def contains(self, user_id: str) -> bool:
        if user_id in self.users:
            return True
        for group in self.groups:
            if user_id in await self._group_members(group):
                return True
        return False

    async def _group_members(self, group: str) -> set[str]:
        cached = self._members.get(group)
        if cached and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        try:
            answer = await self.client.usergroups_users_list(usergroup=group)
            members = set(answer.get("users") or [])
        except SlackApiError as exc:
            # Keep the last known members rather than locking every approver out.
            log.warning("could not read user group %s: %s", group, exc.response.get("error"))
            return cached[1] if cached else set()
        self._members[group] = (time.monotonic(), members)
        return members
