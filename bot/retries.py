"""How calls to outside services are retried: bounded exponential backoff with jitter.

One policy for the provider (bot.providers) and the SAT's status service (bot.sat.consulta): a call
is tried at most `attempts` times and for at most `total_s`, waiting exponential steps from
`initial_s` up to `max_wait_s` plus up to one initial step of jitter, so that many bot
instances retrying the same outage do not hit the service in lock-step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and for how long a call to an outside service is tried again."""

    attempts: int = 4
    initial_s: float = 0.5
    max_wait_s: float = 8.0
    total_s: float = 60.0


def retrying(policy: RetryPolicy, should_retry: Callable[[BaseException], bool],
             log: logging.Logger, what: str) -> AsyncRetrying:
    """An AsyncRetrying that re-raises the last failure and logs each retry (its `code`)."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s failed (%s), attempt %d; retrying", what, getattr(exc, "code", "?"),
                    state.attempt_number)

    return AsyncRetrying(
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.total_s),
        wait=wait_exponential(multiplier=policy.initial_s, max=policy.max_wait_s)
        + wait_random(0, policy.initial_s),
        retry=retry_if_exception(should_retry),
        before_sleep=before_sleep,
        reraise=True,
    )
