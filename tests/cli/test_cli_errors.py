"""What a person can get wrong on the command line ends in one sentence and an exit code,
never a traceback: a WSDL that is not there, an audit folder that cannot be made, an export
into a missing folder or into a pipe that closes, a port already taken."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.actors import Actor
from bot.sandbox.slack_server import SlackStandIn
from bot.sandbox.stage import APPROVALS, PEOPLE
from storage.domain import NewInvoice
from storage.store import AuditStore
from tests.helpers import TOKEN, clean_env, slack_env


def bot(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def sentence(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The one line a person reads (log lines at INFO aside)."""
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [ln.strip(" -") for ln in done.stderr.splitlines()
             if " INFO " not in ln and ln != "The configuration cannot be used:"]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def slack() -> SlackStandIn:
    with SlackStandIn(token=TOKEN, users=PEOPLE, channels={APPROVALS: "a"}) as stand_in:
        yield stand_in


def test_a_missing_wsdl_file(tmp_path: Path, slack: SlackStandIn) -> None:
    env = slack_env(slack, tmp_path, CFDI_WSDL=str(tmp_path / "cfdi.wsdl"))
    said = sentence(bot(["run"], env, tmp_path))
    assert said.startswith(f"CFDI_WSDL '{tmp_path / 'cfdi.wsdl'}' is not a file that exists")
    assert not slack.calls  # refused before Slack was asked
    said = sentence(bot(["demo"], clean_env(CFDI_WSDL="missing.wsdl"), tmp_path))
    assert said.startswith("CFDI_WSDL 'missing.wsdl' is not a file that exists")


def test_a_wsdl_that_is_not_one(tmp_path: Path, slack: SlackStandIn) -> None:
    (tmp_path / "notes.wsdl").write_text("these are not the droids")
    env = slack_env(slack, tmp_path, CFDI_WSDL=str(tmp_path / "notes.wsdl"))
    said = sentence(bot(["run"], env, tmp_path))
    assert said.startswith(f"The provider's WSDL at {tmp_path / 'notes.wsdl'} (CFDI_WSDL) "
                           "cannot be read (")


def test_an_audit_folder_that_cannot_be_created(tmp_path: Path, slack: SlackStandIn) -> None:
    (tmp_path / "data").write_text("a file where the folder should be")
    db = tmp_path / "data" / "cfdi" / "audit.db"
    said = sentence(bot(["run"], slack_env(slack, tmp_path, AUDIT_DB=str(db)), tmp_path))
    assert said.startswith(f"The audit database {db} (AUDIT_DB) cannot be opened (")
    assert said.endswith("choose a place the bot's user may write to.")
    said = sentence(bot(["demo", "--db", str(db)], clean_env(), tmp_path))
    assert said.startswith(f"The audit database {db} (AUDIT_DB) cannot be opened (")


def test_the_http_port_already_taken(tmp_path: Path, slack: SlackStandIn) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = slack_env(slack, tmp_path, PORT=str(port))
        done = bot(["run"], env, tmp_path)
    said = sentence(done)
    assert said.startswith(f"Port {port} cannot be used (")
    assert "set PORT to a free port" in said and "ready:" not in done.stderr


def test_the_sandbox_port_already_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        said = sentence(bot(["sandbox", "--port", str(port)], clean_env(), tmp_path))
    assert said.startswith(f"Port {port} on 127.0.0.1 cannot be used (")
    assert said.endswith("choose another with --port.")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A log long enough to fill a pipe's buffer many times over."""
    path = tmp_path / "audit.db"
    store = AuditStore.open(path)
    with store.transaction() as tx:
        tx.create_request(kind="cancel", requester=Actor("U0ANA", "Ana"), reason="02",
                          justification="x" * 200, invoices=[NewInvoice(f"A-{n}")
                                                             for n in range(1000)])
        for n in range(2000):
            tx.record(Actor("U0ANA", "Ana"), "note", details={"n": n, "pad": "y" * 100})
    store.close()
    return path


def test_an_export_into_a_missing_folder(db: Path) -> None:
    out = db.parent / "no-such-folder" / "events.csv"
    said = sentence(bot(["audit", "export", "--output", str(out)],
                        clean_env(AUDIT_DB=str(db)), db.parent))
    assert said.startswith(f"{out} cannot be written (No such file or directory)")


def test_an_export_whose_reader_leaves(db: Path) -> None:
    """`audit export | head -1`"""
    export = subprocess.Popen([sys.executable, "-m", "bot", "audit", "export"],
                              env=clean_env(AUDIT_DB=str(db)), cwd=db.parent,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert export.stdout is not None and export.stderr is not None
    assert export.stdout.readline().startswith("id,at,actor_id")
    export.stdout.close()
    errors = export.stderr.read()
    export.wait(30)
    done = subprocess.CompletedProcess(export.args, export.returncode, "", errors)
    assert sentence(done, code=1) == ("The output was closed before the export ended (as "
                                      "`head` does): the export stopped there.")
