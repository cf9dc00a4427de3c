"""Who may approve and who may ask: Slack user IDs, and members of Slack user groups.

Group members come from `usergroups.users.list`, read at start and refreshed in the
background (`refresh`), never while Slack waits for an answer: the ack path reads `knows`,
which says None when a group it depends on was never read. Work after the ack may wait a
bounded time for a refresh (`contains`), so a change in Slack takes effect within `ttl_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)
GONE = "no_such_subteam"  # the group does not exist (any more)


class Directory:
    """Who is in APPROVERS or REQUESTERS: user IDs and user-group members (read in the
    background)."""

    def __init__(self, client: AsyncWebClient, ids: Sequence[str], ttl_s: float = 300) -> None:
        self.client = client
        self.users = {i for i in ids if not i.startswith("S")}
        self.groups = [i for i in ids if i.startswith("S")]
        self.ttl_s = ttl_s
        self._members: dict[str, set[str]] = {}
        self._read_at: dict[str, float] = {}
        self._refreshing: asyncio.Task[bool] | None = None

    @property
    def empty(self) -> bool:
        return not self.users and not self.groups

    @property
    def complete(self) -> bool:
        """Every group has been read at least once."""
        return all(group in self._members for group in self.groups)

    def members(self) -> set[str]:
        """Everyone known to be in the list now: its users and the groups' members as last
        read (a group never read adds nobody: see `complete`)."""
        return self.users.union(*self._members.values())

    def knows(self, user_id: str) -> bool | None:
        """From what is already known, without calling Slack: True, False, or None when
        the answer depends on a group never read."""
        if user_id in self.users or any(user_id in m for m in self._members.values()):
            return True
        return False if self.complete else None

    async def contains(self, user_id: str, wait_s: float = 2.0) -> bool | None:
        """After the ack: `knows`, once the groups are read again when they are stale or
        unknown (waiting at most `wait_s`; the refresh goes on in the background)."""
        answer = self.knows(user_id)
        if answer is not True and self._stale():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.refresh()), wait_s)
            answer = self.knows(user_id)
        return answer

    def _stale(self) -> bool:
        now = time.monotonic()
        return any(group not in self._read_at or now - self._read_at[group] > self.ttl_s
                   for group in self.groups)

    def refresh(self) -> asyncio.Task[bool]:
        """Read every group again (one refresh at a time, shared by whoever asks); True
        when every group has been read. A group Slack will not give keeps its last
        members rather than locking everyone out."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._read_all())
        return self._refreshing

    async def _read_all(self) -> bool:
        for group in self.groups:
            try:
                answer = await self.client.usergroups_users_list(usergroup=group)
            except SlackApiError as exc:
                error = exc.response.get("error")
                log.warning("could not read user group %s: %s", group, error)
                if error == GONE:  # a definite answer: nobody is in it
                    self._members[group], self._read_at[group] = set(), time.monotonic()
                continue
            except Exception as exc:  # network errors are not SlackApiError
                log.warning("could not read user group %s: %s", group, type(exc).__name__)
                continue
            self._members[group] = set(answer.get("users") or [])
            self._read_at[group] = time.monotonic()
        return self.complete
