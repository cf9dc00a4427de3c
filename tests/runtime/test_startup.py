"""`python -m bot run` meeting Slack: who we are (auth.test) and with which scopes before
"ready", one sentence and exit 2 when Slack refuses, one log line per failed try with growing
pauses when Slack cannot be reached, and SIGINT/SIGTERM honoured at any moment."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.runtime.startup import BOT_SCOPES
from bot.sandbox.slack_server import SlackStandIn
from bot.sandbox.stage import APPROVALS, FINANCE, PEOPLE
from tests.helpers import APP_TOKEN, SECRET, TOKEN, clean_env, free_port, slack_env

README_ENV = ("SLACK_BOT_TOKEN=xoxb-…\nSLACK_APP_TOKEN=xapp-…\nAPPROVALS_CHANNEL=C0123456789\n"
              "APPROVERS=S0APROBADORES,U01ABCDEF\n")






def run_bot(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "run"], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def start_bot(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, cwd=cwd,
                            stderr=subprocess.PIPE, text=True)


def wait_for_line(bot: subprocess.Popen[str], text: str, seconds: float = 30) -> list[str]:
    """stderr lines up to the first that contains `text`."""
    assert bot.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = bot.stderr.readline()
        if not line and bot.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never logged:\n{''.join(seen)}")


def stopped_within(bot: subprocess.Popen[str], seconds: float, signum: int = signal.SIGTERM
                   ) -> tuple[float, str]:
    began = time.monotonic()
    bot.send_signal(signum)
    try:
        _, rest = bot.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        bot.kill()
        bot.communicate()
        raise AssertionError(f"still running {seconds} s after {signum}") from None
    return time.monotonic() - began, rest


def one_sentence(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "ready" not in done.stderr
    (line,) = [ln for ln in done.stderr.splitlines() if " INFO " not in ln]
    return line


def test_the_readme_placeholders_are_refused_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(README_ENV)
    done = run_bot(clean_env(), tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "SLACK_BOT_TOKEN is still a placeholder: put the Bot User OAuth Token" in done.stderr
    assert "SLACK_APP_TOKEN is still a placeholder" in done.stderr
    assert not (tmp_path / "data").exists()  # nothing created


@pytest.mark.parametrize(("fault", "sentence"), [
    ("wrong token", "Slack refuses SLACK_BOT_TOKEN (invalid_auth): copy the Bot User OAuth "
                    "Token (xoxb-…) again from the app's OAuth & Permissions page."),
    ("token_revoked", "Slack says SLACK_BOT_TOKEN is no longer valid (token_revoked): "
                      "reinstall the app to the workspace"),
    ("missing scope", "The app has not been granted every scope it needs (missing: files:write, "
                      "groups:read): add them under OAuth & Permissions → Scopes"),
])
def test_slack_refusing_the_bot_token_stops_the_start(tmp_path: Path, fault: str,
                                                      sentence: str) -> None:
    scopes = [s for s in BOT_SCOPES if s not in ("files:write", "groups:read")] \
        if fault == "missing scope" else BOT_SCOPES
    with SlackStandIn(token=TOKEN, users=PEOPLE, channels={APPROVALS: "a"},
                      scopes=scopes) as slack:
        if fault == "token_revoked":
            slack.fail("auth.test", "token_revoked")
        env = slack_env(slack, tmp_path)
        if fault == "wrong token":
            env["SLACK_BOT_TOKEN"] = "xoxb-some-other-token"
        done = run_bot(env, tmp_path)
    assert one_sentence(done).startswith(sentence)
    assert "xoxb-some-other-token" not in done.stderr


def test_slack_refusing_the_app_token_stops_the_start(tmp_path: Path) -> None:
    with SlackStandIn(token=TOKEN, users=PEOPLE, channels={APPROVALS: "a"},
                      app_token=APP_TOKEN) as slack:
        done = run_bot(slack_env(slack, tmp_path, SLACK_APP_TOKEN="xapp-1-A0-1-revoked"),
                       tmp_path)
    assert one_sentence(done).startswith("Slack refuses SLACK_APP_TOKEN (invalid_auth): make "
                                         "an app-level token")


def test_no_warning_about_the_client_and_the_token(tmp_path: Path) -> None:
    """SLACK_BOT_TOKEN in the environment made Bolt warn at every start that the client's
    token wins; the bot hands Bolt its client only, and Bolt must not look."""
    with SlackStandIn(token=TOKEN, users=PEOPLE, channels={APPROVALS: "a", FINANCE: "f"}) \
            as slack:
        bot = start_bot(slack_env(slack, tmp_path), tmp_path)
        seen = wait_for_line(bot, "ready: listening")
        # Asked once: the start's own check hands its answer to the bot.
        assert len(slack.calls_of("auth.test")) == 1
        _, rest = stopped_within(bot, 10)
    assert bot.returncode == 0
    logged = "".join(seen) + rest
    assert "will be unused" not in logged and "will be ignored" not in logged
    assert "Traceback" not in logged


def test_slack_unreachable_is_one_line_per_try_then_ready(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, PORT=str(free_port()),
                    SLACK_API_URL=f"http://127.0.0.1:{port}/api/",
                    APPROVALS_CHANNEL=APPROVALS, APPROVERS="U0BETO",
                    AUDIT_DB=str(tmp_path / "audit.db"))
    bot = start_bot(env, tmp_path)
    try:
        first = wait_for_line(bot, "trying again in 1 s")
        second = wait_for_line(bot, "trying again in 2 s")
        with SlackStandIn(token=TOKEN, users=PEOPLE, channels={APPROVALS: "a"},
                          port=port) as slack:
            later = wait_for_line(bot, "ready: listening", seconds=20)
            assert slack.calls_of("auth.test")
            _, rest = stopped_within(bot, 10)
    finally:
        if bot.poll() is None:
            bot.kill()
    logged = "".join(first + second + later) + rest
    assert bot.returncode == 0, logged
    assert "Traceback" not in logged
    tries = [ln for ln in logged.splitlines() if "Slack did not answer" in ln]
    assert [ln.rsplit("trying again in ", 1)[1] for ln in tries][:2] == ["1 s", "2 s"]
    assert len(logged.splitlines()) < len(tries) + 8  # each try one line, nothing more


def test_sigterm_while_waiting_for_slack_stops_at_once(tmp_path: Path) -> None:
    env = clean_env(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, PORT=str(free_port()),
                    SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/",
                    APPROVALS_CHANNEL=APPROVALS, APPROVERS="U0BETO",
                    AUDIT_DB=str(tmp_path / "audit.db"), WATCH_BACKOFF_S="60")
    bot = start_bot(env, tmp_path)
    wait_for_line(bot, "trying again in 2 s")
    took, rest = stopped_within(bot, 5, signal.SIGINT)
    assert bot.returncode == 0 and "Traceback" not in rest
    assert took < 3


def test_sigterm_while_socket_mode_cannot_connect_stops_at_once(tmp_path: Path) -> None:
    """The signal used to set an event awaited only after connect_async() returned, and
    that never happened while the WebSocket could not be opened."""
    with SlackStandIn(token=TOKEN, users=PEOPLE, channels={APPROVALS: "a"},
                      app_token=APP_TOKEN,
                      socket_url=f"ws://127.0.0.1:{free_port()}/link") as slack:
        bot = start_bot(slack_env(slack, tmp_path, SLACK_APP_TOKEN=APP_TOKEN), tmp_path)
        seen = wait_for_line(bot, "Failed to connect")
        took, rest = stopped_within(bot, 8)
        assert slack.calls_of("apps.connections.open")
    logged = "".join(seen) + rest
    assert bot.returncode == 0, logged
    assert "Traceback" not in logged and "ready" not in logged
    assert took < 5
