"""Who did something: a Slack user (id and the name at that moment) or the system.

A small domain module of its own so that handlers, use cases and tests name an actor
without importing the store; the store records anything with an `id` and a `name`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who did something: a person in Slack (id and name), or the bot itself (SYSTEM)."""

    id: str
    name: str


SYSTEM = Actor("system", "system")


@dataclass(frozen=True)
class Acting:
    """A decision's two names: whose vote it is (`voter`, an approver) and, when a stand-in
    gave it in their place (`/cfdi delegar`), who did (`by`)."""

    voter: Actor
    by: Actor | None = None

    @property
    def clicked(self) -> Actor:
        """The person who pressed the button."""
        return self.by or self.voter
