"""`python -m bot <command>`: run, check, demo, sandbox, provider check, report, audit.

The composition root: the only production module that may choose the sandbox. Whatever a
person can get wrong (a setting, a token, a port, a folder) ends in one sentence and an exit
code, never a traceback: 2 when the configuration or the environment refuses, 1 when a check
or a verification fails, 0 otherwise (a stop by SIGINT or SIGTERM included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import ConfigError, Settings, load_settings
from bot.i18n import t
from bot.runtime.logs import setup_logging

if TYPE_CHECKING:
    from bot.providers.contract import Provider
    from bot.runtime.assembly import Runtime
    from bot.slack.io import Identity

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    from bot.cli import report
    from bot.cli.audit import add_commands

    parser = argparse.ArgumentParser(
        prog="python -m bot", description="CFDI Bot: cancel and e-mail CFDI invoices from Slack.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="run the Slack bot (Socket Mode if SLACK_APP_TOKEN is set, "
                        "else HTTP on PORT)", description="Run the Slack bot until SIGINT or "
                        "SIGTERM.")
    commands.add_parser("check", help="check the setup: settings, Slack, channels, user "
                        "groups, audit database, provider",
                        description="One line per check, ✓ or ✗ with what to do. Exit 0 "
                        "only when every check passes. Changes nothing.")
    commands.add_parser("reconcile", help="ask the SAT now about the invoices the daily "
                        "reconciliation covers and tell the operators of any difference",
                        description="The daily reconciliation with the SAT, at once: one "
                        "line with what was asked and found; differences go to ADMIN_CHANNEL "
                        "and the audit log. Exit 1 when the SAT answered for none.")
    demo = commands.add_parser("demo", help="the whole flow offline against the sandbox provider",
                               description="Play a cancellation and a send against the sandbox "
                               "provider, then print the audit trail. It writes data/demo.db, "
                               "made anew each time (never AUDIT_DB).")
    demo.add_argument("--db", type=Path, metavar="PATH",
                      help="write the demo's audit log here instead (kept as it is)")
    sandbox = commands.add_parser("sandbox", help="run the provider simulator alone",
                                  description="Serve the sandbox provider (WSDL at "
                                  "/ws/services/CFDI?wsdl) until interrupted.")
    sandbox.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    sandbox.add_argument("--sat-port", type=int, default=8081,
                         help="TCP port of the SAT status stand-in beside it (default 8081)")
    sandbox.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    sandbox.add_argument("--resolve-after", type=float, default=30.0, metavar="S",
                         help="seconds before a resolving pending cancellation resolves")
    sandbox.add_argument("--slow", type=float, default=5.0, metavar="S",
                         help="seconds a slow answer (code 900) takes")
    sandbox.add_argument("--usuario", default="sandbox", help="accepted user (default sandbox)")
    sandbox.add_argument("--password", default="sandbox",
                         help="accepted password (default sandbox)")

    provider = commands.add_parser("provider", help="check the provider's WSDL and service",
                                   description="Check the provider's web service.")
    provider_commands = provider.add_subparsers(dest="provider_command", required=True,
                                                metavar="ACTION")
    provider_check = provider_commands.add_parser(
        "check", help="every operation and element the bot needs: found or missing",
        description="Show the WSDL in use and its address, and for each operation and "
        "element the bot sends or reads: found or missing. Exit 0 when all is well.")
    provider_check.add_argument(
        "--live", action="store_true", help="also cancel the provider's documented test "
        "UUIDs with the configured account and show how each answer is read")
    add_commands(commands)
    report.add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _config_problems(exc.problems)
    setup_logging(settings.secrets(), settings.log_level, settings.log_format)
    if args.command == "sandbox":
        return _sandbox(args, settings.language)
    if args.command in ("audit", "report"):
        from bot.cli import audit, report
        return (audit if args.command == "audit" else report).run(args, settings)
    if args.command == "provider":
        return asyncio.run(_provider_check(settings, live=args.live))
    if args.command == "check":
        return asyncio.run(_check(settings))
    if args.command == "demo":
        return _demo(settings, args.db)
    if args.command == "reconcile":
        return _run(settings, reconcile_only=True)
    return _run(settings)


def _config_problems(problems: list[str]) -> int:
    print("The configuration cannot be used:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return 2


def _refused(sentence: str) -> int:
    print(sentence, file=sys.stderr)
    return 2


def _run(settings: Settings, *, reconcile_only: bool = False) -> int:
    problems = settings.problems_for_run()
    if problems:
        return _config_problems(problems)
    # The settings hold the Slack secrets now. Left in the environment, Bolt reads
    # SLACK_BOT_TOKEN again and warns at every start that the client handed to it wins
    # (or that `authorize` does); and nothing the bot starts needs them.
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        os.environ.pop(name, None)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_serve(settings, reconcile_only=reconcile_only))
    return 0


async def _serve(settings: Settings, *, reconcile_only: bool = False) -> int:
    """Each step can refuse with one sentence, and a signal stops any of them. With
    `reconcile_only`, the bot is assembled as for serving, reconciles once, and stops."""
    from bot.cli import auditdb
    from bot.evidence.keys import KeyProblem
    from bot.evidence.running import signing_key
    from bot.runtime import startup
    from bot.runtime.serving import Stop, Stopped, serve

    stop = Stop()
    stop.install()
    try:
        with contextlib.closing(auditdb.open_for(settings)) as store:  # its owner checked
            signing_key(settings, store)       # AUDIT_SIGNING_KEY private, and the file's
        # The provider's WSDL (a local check) before Slack, which may mean waiting out a
        # network that is not there yet.
        provider = None if settings.sandbox else await stop.race(_provider(settings))
        identity = await stop.race(startup.verify(settings))
        runtime = await stop.race(_build(settings, provider, identity))
        if reconcile_only:
            return await _reconcile(runtime)
        await serve(runtime, stop)
    except Stopped:
        log.info("stopped before serving")
    except (auditdb.Unusable, startup.Refused, KeyProblem) as exc:
        return _refused(exc.sentence)
    except _ProviderUnusable as exc:
        return _config_problems(exc.problems)
    except OSError as exc:  # the HTTP port: in use, or not ours to take
        return _refused(t("start.port_in_use", settings.language, port=settings.port,
                          error=exc.strerror or exc))
    return 0


async def _reconcile(runtime: Runtime) -> int:
    try:
        done = await runtime.watcher.reconciler.run()
    finally:
        await runtime.stop()
    print(t("cli.reconciled", runtime.settings.language, asked=done.asked,
            answered=done.answered, found=len(done.found), confirmed=len(done.confirmed)))
    return 1 if done.asked and not done.answered else 0


class _ProviderUnusable(Exception):
    """The provider's WSDL cannot be read or lacks what the bot sends."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@contextlib.contextmanager
def _wsdl_read(settings: Settings) -> Iterator[None]:
    """A WSDL that cannot be read or lacks what the bot sends: one sentence per problem."""
    import httpx
    import zeep.exceptions
    from lxml import etree

    from bot.providers.registry import package

    try:
        yield
    except package(settings).ContractError as exc:
        raise _ProviderUnusable(exc.problems) from None
    except (OSError, httpx.HTTPError, zeep.exceptions.Error, etree.XMLSyntaxError) as exc:
        error = getattr(exc, "strerror", None) or str(exc)[:200] or type(exc).__name__
        raise _ProviderUnusable([t("start.wsdl_unreadable", settings.language,
                                   wsdl=settings.cfdi_wsdl, error=error)]) from None


async def _provider(settings: Settings) -> Provider:
    """The real provider's client (the one CFDI_PROVIDER names), its WSDL read and checked."""
    from bot.providers.registry import package

    with _wsdl_read(settings):
        return await package(settings).connect(settings)


async def _build(settings: Settings, provider: Provider | None,
                 identity: Identity | None = None) -> Runtime:
    """The bot on the real provider, or (CFDI_ENDPOINT=sandbox, no provider) the simulator."""
    from bot.config import SANDBOX
    from bot.runtime.assembly import build, connect_sat

    with _wsdl_read(settings):
        if provider is None:
            from bot.sandbox.stage import sandbox_runtime

            runtime, *_ = await sandbox_runtime(settings, identity)
            return runtime
        sat = None
        if settings.sat_consulta_url == SANDBOX:  # the stand-in knows only its own invoices
            log.warning("SAT_CONSULTA_URL names the SAT stand-in while the provider is "
                        "real: the SAT is not asked; set it to the SAT's address (README, "
                        "going live)")
        else:
            sat = await connect_sat(settings)
        return await build(settings, provider, sat=sat, identity=identity)


async def _provider_check(settings: Settings, *, live: bool,
                          say: Callable[[str], None] = print) -> int:
    """Against CFDI_ENDPOINT, or a sandbox started for the check when it says `sandbox`."""
    from bot.providers.registry import package

    check = package(settings).check
    if not settings.sandbox:
        return await check(settings, settings.cfdi_endpoint, live=live, say=say)
    from bot.sandbox.pac_server import SandboxPac

    with SandboxPac(usuario=settings.cfdi_usuario,
                    password=settings.cfdi_password.get_secret_value()) as sandbox:
        return await check(settings, sandbox.endpoint, live=live, say=say)


async def _check(settings: Settings) -> int:
    from bot.cli.check import run

    return await run(settings, lambda say: _provider_check(settings, live=False, say=say))


def _demo(settings: Settings, db: Path | None) -> int:
    from bot.cli import auditdb
    from bot.sandbox.demo import DEMO_DB, fresh_demo_db, run_demo

    if db is None:
        if "audit_db" in settings.model_fields_set:
            print(t("cli.demo_ignores_audit_db", settings.language, path=settings.audit_db,
                    demo=DEMO_DB), file=sys.stderr)
        db = fresh_demo_db()
    if problems := settings.file_problems():
        return _config_problems(problems)
    sandbox = settings.model_copy(update={"cfdi_endpoint": "sandbox"})
    try:
        auditdb.open_for(sandbox, db).close()   # a file of the sandbox, never of a provider
    except auditdb.Unusable as exc:
        return _refused(exc.sentence)
    return asyncio.run(run_demo(settings, db))


def _sandbox(args: argparse.Namespace, lang: str) -> int:
    from bot.sandbox.pac_server import SandboxPac
    from bot.sandbox.sat_server import SandboxSat

    port = args.port
    try:
        server = SandboxPac(usuario=args.usuario, password=args.password, host=args.host,
                            port=port, resolve_after_s=args.resolve_after, slow_s=args.slow)
        port = args.sat_port
        sat = SandboxSat(server.state, server.book, host=args.host, port=port).start()
    except OSError as exc:
        return _refused(t("cli.sandbox_port_in_use", lang, port=port, host=args.host,
                          error=exc.strerror or exc))
    print(f"Sandbox provider: WSDL {server.wsdl_url}\n"
          f"Set CFDI_WSDL={server.wsdl_url} or CFDI_ENDPOINT={server.endpoint}\n"
          f"SAT status stand-in: set SAT_CONSULTA_URL={sat.endpoint}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    sat.stop()
    server.stop()
    return 0
