"""Crash points for the kill tests: `CFDI_CRASH_AT=<name>` ends the process at that point
as SIGKILL would (no cleanup, no flush), so tests can prove that nothing is lost or doubled.
Unset (always, outside tests) it costs one dictionary lookup.
"""

from __future__ import annotations

import os

POINTS = ("after_request_written", "after_approval", "provider_answered", "between_parts",
          "after_post", "after_upload")


def crash_point(name: str) -> None:
    if os.environ.get("CFDI_CRASH_AT") == name:
        os._exit(137)
