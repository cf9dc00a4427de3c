"""Percentiles and summaries of answer times, as the ack benchmark reports them."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from benchmarks.loadgen import Answer

SLACK_LIMIT_S = 3.0


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1-99), interpolated between the closest ranks."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summary(answers: Iterable[Answer]) -> dict[str, Any]:
    """Count, p50, p99 and max in ms, answers over Slack's 3 s, answers that were not 200."""
    answers = list(answers)
    seconds = [a.seconds for a in answers]
    return {"count": len(answers),
            "p50_ms": round(percentile(seconds, 50) * 1000, 2),
            "p99_ms": round(percentile(seconds, 99) * 1000, 2),
            "max_ms": round(max(seconds, default=float("nan")) * 1000, 2),
            "over_3s": sum(1 for s in seconds if s > SLACK_LIMIT_S),
            "not_200": sum(1 for a in answers if a.status != 200)}


def by_kind(answers: Iterable[Answer]) -> dict[str, dict[str, Any]]:
    kinds: dict[str, list[Answer]] = {}
    for answer in answers:
        kinds.setdefault(answer.kind, []).append(answer)
    return {kind: summary(found) for kind, found in kinds.items()}


def rounds(each: list[list[Answer]]) -> dict[str, Any]:
    """All rounds of one server: the pooled summary, and the median of the rounds' p99 (the
    figure the ratios use: one bad round moves it less than a pooled p99)."""
    p99s = [percentile([a.seconds for a in one], 99) * 1000 for one in each]
    p50s = [percentile([a.seconds for a in one], 50) * 1000 for one in each]
    pooled = [a for one in each for a in one]
    return {**summary(pooled), "p99_ms_median_of_rounds": round(statistics.median(p99s), 2),
            "p50_ms_median_of_rounds": round(statistics.median(p50s), 2),
            "p99_ms_rounds": [round(v, 2) for v in p99s], "per_kind": by_kind(pooled)}
